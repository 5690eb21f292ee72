//! The floor under a command's latency: bare Kafka transactions shaped like a processor's
//! (records to the events, results and snapshots topics of one partition, the consumed
//! offset, commit), timed by phase, with nothing else in the loop.

use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet, TransactionalProducer};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::stats::summarize;

#[derive(Debug, clap::Args)]
pub(crate) struct Txn {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// Transactions to run one after the other.
    #[arg(long, default_value_t = 300)]
    transactions: usize,
    /// Commands per transaction (each: one event, one result, one snapshot record).
    #[arg(long, default_value_t = 10)]
    commands: usize,
    /// Partitions, each with its own transactional writer on its own thread (command-api
    /// runs one per owned partition, all at once).
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Write the consumed offset as a record of the snapshots topic (as command-api does)
    /// instead of sending it to the consumer group (`send_offsets_to_transaction`).
    #[arg(long)]
    offsets_as_record: bool,
    /// Transactional producers per partition, used in turn, so a transaction never
    /// starts while the previous one's markers are written (measured: no difference, so
    /// command-api uses one).
    #[arg(long, default_value_t = 1)]
    producers: usize,
    /// One writer whose every transaction spans all the partitions (`--commands` on each),
    /// as a processor with one transactional producer for all its partitions would write,
    /// instead of a writer per partition.
    #[arg(long)]
    spanning: bool,
    /// librdkafka `debug` contexts for the producer (e.g. `eos,protocol`), to see retries.
    #[arg(long)]
    debug: Option<String>,
}

const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn run(args: Txn) -> anyhow::Result<()> {
    let (prefix, kafka, topics) =
        testkit::harness::stack::bench_topics(&args.kafka.bootstrap, "txn-", args.partitions)
            .await?;
    if args.debug.is_some() {
        telemetry::init_logs(telemetry::LogFormat::Pretty);
    }
    let run_started = Instant::now();
    let lanes: Vec<Vec<i32>> = if args.spanning {
        vec![(0..args.partitions).collect()]
    } else {
        (0..args.partitions).map(|p| vec![p]).collect()
    };
    let writers: Vec<_> = lanes
        .into_iter()
        .map(|partitions| {
            let (kafka, topics) = (kafka.clone(), topics.clone());
            let shape = Shape {
                transactions: args.transactions,
                commands: args.commands,
                offsets_as_record: args.offsets_as_record,
                producers: args.producers.max(1),
                debug: args.debug.clone(),
            };
            tokio::task::spawn_blocking(move || measure(&kafka, &topics, &partitions, &shape))
        })
        .collect();
    let mut phases: [Vec<Duration>; 5] = Default::default();
    for writer in writers {
        for (all, mine) in phases.iter_mut().zip(writer.await??) {
            all.extend(mine);
        }
    }
    let elapsed = run_started.elapsed();
    let (total, per_transaction) = if args.spanning {
        (args.transactions, args.commands * args.partitions as usize)
    } else {
        (args.transactions * args.partitions as usize, args.commands)
    };
    println!(
        "{total} transactions of {per_transaction} commands on {} partition(s) in {:.1} s: {:.1} transactions/s, {:.0} commands/s",
        args.partitions,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        (total * per_transaction) as f64 / elapsed.as_secs_f64()
    );
    for (name, samples) in PHASES.iter().zip(phases) {
        println!("{name:>18}: {}", summarize(samples));
    }
    testkit::harness::clean::remove_topics(&args.kafka.bootstrap, &[&prefix]).await?;
    Ok(())
}

/// Samples per phase, in the order a transaction goes through them.
const PHASES: [&str; 5] = [
    "begin and send",
    "send_offsets",
    "deliver",
    "commit",
    "whole transaction",
];

/// What one partition's writer does.
struct Shape {
    transactions: usize,
    commands: usize,
    offsets_as_record: bool,
    producers: usize,
    debug: Option<String>,
}

/// One writer: `transactions` transactions, one after the other, each over `partitions`.
fn measure(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partitions: &[i32],
    shape: &Shape,
) -> anyhow::Result<[Vec<Duration>; 5]> {
    let &Shape {
        transactions,
        commands,
        offsets_as_record,
        ..
    } = shape;
    let producers = (0..shape.producers)
        .map(|n| {
            let id = format!("{}txn-probe-{}-{n}", kafka.topic_prefix, partitions[0]);
            let mut config = kafka.transactional_producer(&id);
            if let Some(debug) = &shape.debug {
                config
                    .set("debug", debug)
                    .set_log_level(rdkafka::config::RDKafkaLogLevel::Debug);
            }
            let producer = TransactionalProducer::create(&config)?;
            producer.init_transactions(TIMEOUT)?;
            Ok(producer)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let consumer: BaseConsumer = kafka
        .read_committed_consumer(&format!("{}txn-probe", kafka.topic_prefix))
        .create()?;
    let group = consumer
        .group_metadata()
        .ok_or_else(|| anyhow::anyhow!("no group metadata"))?;
    let value = vec![b'x'; 400];
    let mut phases: [Vec<Duration>; 5] = Default::default();
    let mut lap = |phase: usize, since: Instant| {
        phases[phase].push(since.elapsed());
        Instant::now()
    };
    for n in 0..transactions {
        let producer = &producers[n % producers.len()];
        let started = Instant::now();
        producer.begin_transaction()?;
        for &partition in partitions {
            for topic in [&topics.events, &topics.results, &topics.snapshots] {
                for command in 0..commands {
                    // Keyed: the snapshots topic is compacted and refuses records without a key.
                    let key = format!("order-{command}");
                    let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
                        .key(key.as_bytes())
                        .payload(value.as_slice())
                        .partition(partition);
                    producer.send(record)?;
                }
            }
        }
        let since = lap(0, started);
        let mut offsets = TopicPartitionList::new();
        for &partition in partitions {
            if offsets_as_record {
                let value = (n + 1).to_string();
                let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&topics.snapshots)
                    .key(b"consumed-offset".as_slice())
                    .payload(value.as_bytes())
                    .partition(partition);
                producer.send(record)?;
            } else {
                offsets.add_partition_offset(
                    &topics.commands,
                    partition,
                    Offset::Offset(n as i64 + 1),
                )?;
            }
        }
        if !offsets_as_record {
            producer.send_offsets_to_transaction(&offsets, &group, TIMEOUT)?;
        }
        let since = lap(1, since);
        producer.wait_delivered(TIMEOUT)?;
        let since = lap(2, since);
        producer.commit_transaction(TIMEOUT)?;
        lap(3, since);
        lap(4, started);
    }
    Ok(phases)
}
