//! bench: measures orderlog with the stack running, each figure beside its floor or
//! ceiling. Figures go to docs/performance.md. (The fault suite, the scale-out check and
//! the demo are in `suites/`.)
//!
//! - `throughput`: as many commands as N concurrent clients can push, for a duration.
//! - `latency`: a fixed rate of commands, with latency percentiles.
//! - `rebuild`: fills a partition with events, then times folding it (events/s) and
//!   reading its snapshots.
//! - `project`: fills the log, then times one projection catching up, and a plain COPY
//!   of the rows it produced (the ceiling).
//! - `replay`: fills the log, then times `orderlog events replay` beside a plain consumer
//!   writing raw values (the ceiling).
//! - `takeover`: kills the command-api process owning a partition with a long history and
//!   times until another process answers a command.
//! - `memory`: command-api's resident memory per order after taking over a partition of
//!   live orders, and of final ones, against an empty partition.
//! - `clean`: removes the topics and databases benchmarks (and tests) left behind.
//! - `txn`: bare Kafka transactions shaped like a processor's, timed by phase (the floor
//!   under a command's latency).
//! - `floor`: only the Kafka work of a command (produce, consume, one transaction to every
//!   topic a command writes, commit, read the result), at a fixed rate: the latency floor.
//! - `freshness`: time from a command's answer until GraphQL shows its version.
//! - `topic-latency`: commands a Kafka client produces to the commands topic, at a fixed
//!   rate, each timed until its result arrives on the results topic.
//! - `query`: GraphQL reads against query-api, or the same SQL straight to PostgreSQL
//!   (the ceiling); `--hot-share` and `--writes` make the read cache's mix.
//! - `cached-reads`: that mix on query-apis of its own (a cache holding every order, one
//!   below the hot set, none), each beside the same SQL.
//! - `all`: every benchmark beside its floor or ceiling, one run, JSON and the generated
//!   table of docs/performance.md (`make bench`).

// Benchmarks compute rates and percentiles; money never passes through here.
#![allow(clippy::float_arithmetic)]

mod bench;
mod cached_reads;
mod floor;
mod freshness;
mod http_load;
mod memory;
mod project;
mod query_load;
mod rebuild;
mod replay;
mod settle;
mod stages;
mod stats;
mod table;
mod takeover;
mod topic_load;
mod txn;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bench", about = "Benchmarks for orderlog")]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Sustained commands/s through HTTP: concurrent clients, each placing orders and adding lines.
    Throughput(http_load::Throughput),
    /// Latency at a fixed command rate.
    Latency(http_load::Latency),
    /// Partition rebuild speed: events/s folding the events, and the snapshot read.
    Rebuild(rebuild::Rebuild),
    /// Projection speed: events/s one projection applies, beside a plain COPY of its rows.
    Project(project::Project),
    /// Read speed: GraphQL `order(id)` or a first page of `orders`, or the same SQL directly.
    Query(query_load::Query),
    /// The read cache: `order(id)` under the hot mix with writes, with a cache holding every order, one below the hot set, none; each beside the same SQL.
    CachedReads(cached_reads::CachedReads),
    /// Replay speed: `orderlog events replay` to JSON Lines and CSV, beside a plain consumer.
    Replay(replay::Replay),
    /// Processor memory per order: RSS after taking over N live orders, N final ones, none.
    Memory(memory::Memory),
    /// Removes the topics and databases benchmarks (and, with --tests, tests) left behind.
    Clean(testkit::harness::clean::Clean),
    /// Takeover after a kill: two command-api processes, SIGKILL the owner, time the survivor's first answer.
    Takeover(takeover::Takeover),
    /// The floor under command latency: bare Kafka transactions shaped like a processor's, by phase.
    Txn(txn::Txn),
    /// The latency floor end to end: a command's Kafka work alone, at a fixed rate, open loop.
    Floor(floor::Floor),
    /// Freshness: time from a command's answer until GraphQL shows that version (idle or at a rate).
    Freshness(freshness::Freshness),
    /// The commands-topic intake: commands a Kafka client produces, answered on the results topic.
    TopicLatency(topic_load::TopicLatency),
    /// Every benchmark beside its floor or ceiling, one run: JSON and docs/performance.md's table.
    All(bench::Bench),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Mode::Throughput(args) => http_load::throughput(args).await,
        Mode::Latency(args) => http_load::latency(args).await,
        Mode::Rebuild(args) => rebuild::run(args).await,
        Mode::Project(args) => project::run(args).await,
        Mode::Query(args) => query_load::run(args).await,
        Mode::Replay(args) => replay::run(args).await,
        Mode::CachedReads(args) => cached_reads::standalone(args).await,
        Mode::Txn(args) => txn::run(args).await,
        Mode::Clean(args) => testkit::harness::clean::run(args).await,
        Mode::Takeover(args) => takeover::run(args).await,
        Mode::Memory(args) => memory::run(args).await,
        Mode::All(args) => bench::run(args).await,
        Mode::Floor(args) => floor::run(args).await,
        Mode::Freshness(args) => freshness::run(args).await,
        Mode::TopicLatency(args) => topic_load::run(args).await,
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

    /// Every `bench ...` invocation the docs give parses (placeholders such as `<name>`
    /// are filled in); words that only look like one (`bench right after`) are no
    /// subcommand of it.
    #[test]
    fn every_documented_invocation_parses() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let fill = |text: &str| {
            text.replace("<name>", "orders")
                .replace("<file>", "report.md")
        };
        let parse = |words: &[&str]| Cli::try_parse_from(words).map(drop);
        let checked = testkit::harness::docs::parse_every_invocation(root, "bench", fill, parse);
        assert!(checked > 20, "only {checked} invocations found");
    }
}
