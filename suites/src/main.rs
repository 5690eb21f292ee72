//! suites: orderlog checked as a platform of separate processes, as users run it.
//!
//! - `chaos`: the fault suite in the style of Kafka's system tests and Jepsen (`make chaos`,
//!   `make chaos-short`; docs/reliability.md).
//! - `scale`: every tier scaled out behind HAProxy, instances added and removed under
//!   load, and the checks; `--compare` measures commands/s against one instance each
//!   (`make scale`, `make scale-short`).
//! - `demo`: realistic traffic for a newcomer to watch (`make demo`).
//!
//! `scale` runs over `chaos`'s harness: its process supervisor (`chaos::services`), its
//! workload and its checker.

// Rates and per-thousand figures; money never passes through here.
#![allow(clippy::float_arithmetic)]

mod chaos;
mod demo;
mod scale;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "suites",
    about = "orderlog's fault suite, scale-out check and demo"
)]
struct Cli {
    #[command(subcommand)]
    command: Suite,
}

#[derive(Debug, Subcommand)]
enum Suite {
    /// The fault suite: a workload, a nemesis on the 3-broker cluster, and the checks.
    Chaos(chaos::Chaos),
    /// Every tier scaled out behind HAProxy; one instance of each added and one removed under load.
    Scale(scale::Scale),
    /// Realistic traffic to watch: order flows, cancellations, refused commands (`make demo`).
    Demo(demo::Demo),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Suite::Chaos(args) => chaos::run(args).await,
        Suite::Scale(args) => scale::run(args).await,
        Suite::Demo(args) => demo::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    #[test]
    fn the_arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    /// Every `suites ...` invocation the docs and the Makefile give parses.
    #[test]
    fn every_documented_invocation_parses() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let fill = |text: &str| text.replace("<file>", "report.md");
        let parse = |words: &[&str]| Cli::try_parse_from(words).map(drop);
        let checked = testkit::harness::docs::parse_every_invocation(root, "suites", fill, parse);
        assert!(checked >= 5, "only {checked} invocations found");
    }
}
