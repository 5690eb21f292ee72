//! `orderlog`, the analysts' command-line tool. It reads Kafka directly (any cluster the
//! platform runs on) and, for `verify`, the read models' PostgreSQL; it needs no service.
//!
//! - [`bound`], [`filter`], [`record`]: pure pieces (what a range means,
//!   which events pass, how an event is printed).
//! - [`scan`]: reading the events topic over a range; [`chunk`] and [`pool`]: decoding and
//!   formatting a replay on several threads, in the order it was read.
//! - [`replay`], [`state`], [`stats`], [`simulate`], [`verify`], [`export`]: the commands.

pub mod args;
pub mod bound;
pub mod chunk;
pub mod export;
pub mod filter;
pub mod jsonl;
pub mod output;
pub mod pool;
pub mod progress;
pub mod record;
pub mod replay;
pub mod scan;
pub mod simulate;
pub mod state;
pub mod stats;
pub mod verify;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use event_store::KafkaConfig;

use args::{Cli, Command, EventsCommand, ExportCommand, OrderCommand};

/// What every command needs to reach the platform.
pub struct Context {
    pub kafka: KafkaConfig,
    pub timeout: Duration,
}

/// Runs a parsed command line; errors come back for `main` to print.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Context {
        kafka: KafkaConfig::new(cli.kafka.bootstrap, cli.kafka.topic_prefix)
            .secured(cli.kafka.security),
        timeout: Duration::from_secs(cli.kafka.timeout.max(1)),
    };
    let stop = Arc::new(AtomicBool::new(false));
    match cli.command {
        Command::Events(EventsCommand::Replay(args)) => {
            let to = (!args.follow).then_some(args.to.as_str());
            replay::run(&ctx, &args.from, to, &args.selection, args.threads, &stop)?;
        }
        Command::Events(EventsCommand::Tail(args)) => {
            replay::tail(&ctx, &args.from, &args.selection, &stop)?;
        }
        Command::Order(OrderCommand::State(args)) => {
            let document = state::run(&ctx, &args)?;
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &document)?;
            writeln!(out)?;
        }
        Command::Simulate(args) => {
            let report = simulate::run(&ctx, &args)?;
            let mut out = std::io::stdout().lock();
            match args.format {
                args::SimulateFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    writeln!(out)?;
                }
                args::SimulateFormat::Text => out.write_all(report.text().as_bytes())?,
            }
        }
        Command::Stats(args) => {
            let stats = stats::run(&ctx, &args)?;
            std::io::stdout()
                .lock()
                .write_all(stats.render(args.format)?.as_bytes())?;
        }
        Command::Export(ExportCommand::Parquet(args)) => {
            let done = export::events::run(&ctx, &args, &stop)?;
            match &done.run {
                Some(run) => eprintln!(
                    "export: run {run} committed {} events ({} rows in {} files) to {}",
                    done.events,
                    done.rows,
                    done.files,
                    args.out.display()
                ),
                None => eprintln!("export: nothing new since the last run"),
            }
            if done.unreadable > 0 {
                eprintln!(
                    "export: {} records could not be read and were skipped",
                    done.unreadable
                );
            }
        }
        Command::Export(ExportCommand::State(args)) => {
            let done = export::state::run(&ctx, &args)?;
            eprintln!(
                "export: {} orders as they stood at {} ({} events) to {}",
                done.orders,
                done.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                done.events,
                args.out.display()
            );
        }
        Command::Verify(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let report = runtime.block_on(verify::run(&ctx, args.database_url.expose()))?;
            let mut out = std::io::stdout().lock();
            for difference in report.differences.iter().take(args.max_differences) {
                writeln!(out, "{difference}")?;
            }
            out.flush()?;
            if report.differences.is_empty() {
                eprintln!(
                    "verify: the log is consistent and the read models match it ({} events, {} orders)",
                    report.events, report.orders
                );
            } else {
                let shown = report.differences.len().min(args.max_differences);
                eprintln!(
                    "verify: {} differences in the log or between the log and the read models (showing {shown}; columns: model, key, field, expected, actual)",
                    report.differences.len()
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
