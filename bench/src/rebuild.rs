//! Partition rebuild: how fast a processor taking over a partition gets its state back,
//! from the events (a fold of the whole history) and from the snapshot changelog. The
//! filling and the timed rebuilds are the processor's own (`command_api::processor::measure`).

use std::time::Instant;

use command_api::processor::measure;
use event_store::{KafkaConfig, TopicSet};

#[derive(Debug, clap::Args)]
pub(crate) struct Rebuild {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// Events to write into the partition (each order: placed, three lines added, paid).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
}

pub(crate) async fn run(args: Rebuild) -> anyhow::Result<()> {
    let (prefix, kafka, topics) = filled_log(&args.kafka.bootstrap, args.events).await?;
    let figures =
        tokio::task::spawn_blocking(move || measure::time_rebuild(&kafka, &topics)).await??;
    let (orders, elapsed) = figures.from_events;
    println!(
        "rebuild from events: {} events of {orders} orders in {:.2} s = {:.0} events/s",
        args.events,
        elapsed.as_secs_f64(),
        args.events as f64 / elapsed.as_secs_f64()
    );
    let (records, bytes, elapsed) = figures.raw_snapshots;
    println!(
        "reading the snapshots without parsing (the ceiling): {records} records, {} MB in {:.2} s",
        bytes / 1_000_000,
        elapsed.as_secs_f64()
    );
    let (from_snapshots, orders, elapsed) = figures.rebuild;
    println!(
        "rebuild from {}: {orders} orders in {:.2} s (parsed on each order's first command)",
        if from_snapshots {
            "snapshots"
        } else {
            "events (a snapshot was unreadable)"
        },
        elapsed.as_secs_f64()
    );
    let (orders, elapsed) = figures.parse_all;
    println!(
        "parsing every snapshot (what the orders' first commands share): {orders} orders in {:.2} s",
        elapsed.as_secs_f64()
    );
    testkit::harness::clean::remove_topics(&args.kafka.bootstrap, &[&prefix]).await?;
    Ok(())
}

/// Fresh single-partition topics under a new `bench-` prefix, filled with `events` events
/// (and each order's snapshot): the log every benchmark that reads one starts from.
pub(crate) async fn filled_log(
    bootstrap: &str,
    events: u64,
) -> anyhow::Result<(String, KafkaConfig, TopicSet)> {
    let (prefix, kafka, topics) = testkit::harness::stack::bench_topics(bootstrap, "", 1).await?;
    let (kafka2, topics2) = (kafka.clone(), topics.clone());
    let started = Instant::now();
    let written =
        tokio::task::spawn_blocking(move || measure::fill_history(&kafka2, &topics2, events))
            .await??;
    println!(
        "wrote {written} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok((prefix, kafka, topics))
}
