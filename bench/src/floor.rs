//! `bench floor`: the Kafka work a command must do in this design and nothing else, at a
//! fixed rate: a producer configured as the HTTP tier's produces a command record; a
//! read_committed consumer per partition (the processor's settings) takes what has
//! arrived; one transaction per batch writes a record to each topic a command's
//! transaction writes (events, results, snapshots, and the partition's position), and
//! commits; a read_committed reader of the results (the HTTP tier's settings) receives
//! the result. No HTTP, no JSON, no domain code. Each latency is timed from the command's
//! intended start (open loop), so the floor is what a command's latency can approach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet, TransactionalProducer};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::stats;

#[derive(Debug, clap::Args)]
pub(crate) struct Floor {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// Commands per second.
    #[arg(long, default_value_t = 300)]
    rate: u64,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Partitions, each with its own transactional writer (the platform's default).
    #[arg(long, default_value_t = 6)]
    partitions: i32,
}

const TIMEOUT: Duration = Duration::from_secs(10);
/// Commands sent before the measured ones, so the new topics' leaders, the writers'
/// first transactions and the readers' first fetches are behind: not recorded.
const WARM_UP: Duration = Duration::from_secs(3);
/// About the sizes of the platform's records: a command, an event, a result, a snapshot.
const COMMAND_BYTES: usize = 450;
const EVENT_BYTES: usize = 400;
const RESULT_BYTES: usize = 250;
const SNAPSHOT_BYTES: usize = 1500;

/// The floor at `rate` for `seconds`: its latency summary and how many never arrived.
pub(crate) async fn measure(
    bootstrap: &str,
    rate: u64,
    seconds: u64,
    partitions: i32,
) -> anyhow::Result<(stats::Summary, u64)> {
    let (prefix, kafka, topics) =
        testkit::harness::stack::bench_topics(bootstrap, "floor-", partitions).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..partitions)
        .map(|partition| {
            let (kafka, topics, stop) = (kafka.clone(), topics.clone(), stop.clone());
            std::thread::spawn(move || processor(&kafka, &topics, partition, &stop))
        })
        .collect();
    let warm_up = rate * WARM_UP.as_secs();
    let total = rate * seconds + warm_up;
    let interval = Duration::from_secs(1) / u32::try_from(rate.max(1))?;
    let reader = {
        let (kafka, topics) = (kafka.clone(), topics.clone());
        std::thread::spawn(move || results(&kafka, &topics, partitions, total))
    };
    // Give the writers and the reader their assignments before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .client()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("partitioner", "murmur2_random")
        .create()?;
    let command = vec![b'c'; COMMAND_BYTES];
    for n in 0..total {
        let due = started + interval * u32::try_from(n)?;
        tokio::time::sleep_until(due.into()).await;
        let mut value = n.to_le_bytes().to_vec();
        value.extend_from_slice(&command);
        let key = n.to_string();
        let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&topics.commands)
            .key(key.as_bytes())
            .payload(value.as_slice())
            .partition(i32::try_from(n % u64::try_from(partitions)?)?);
        producer
            .send(record)
            .map_err(|(error, _)| anyhow::anyhow!("produce: {error}"))?;
    }
    let arrivals = tokio::task::spawn_blocking(move || reader.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the results reader panicked"))??;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    let mut histogram = stats::histogram();
    let mut missing = 0;
    for (n, arrived) in arrivals.iter().enumerate().skip(usize::try_from(warm_up)?) {
        match arrived {
            Some(at) => {
                let due = started + interval * u32::try_from(n)?;
                stats::record(&mut histogram, at.saturating_duration_since(due));
            }
            None => missing += 1,
        }
    }
    testkit::harness::clean::remove_topics(bootstrap, &[&prefix]).await?;
    Ok((stats::summary(&histogram), missing))
}

pub(crate) async fn run(args: Floor) -> anyhow::Result<()> {
    let (summary, missing) = measure(
        &args.kafka.bootstrap,
        args.rate,
        args.seconds,
        args.partitions,
    )
    .await?;
    println!(
        "floor at {} commands/s for {} s on {} partitions ({missing} missing): {summary}",
        args.rate, args.seconds, args.partitions
    );
    Ok(())
}

/// One partition's writer: whatever commands have arrived, in one transaction.
fn processor(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = kafka
        .read_committed_consumer(&format!("{}floor-processor", kafka.topic_prefix))
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(&topics.commands, partition, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let id = format!("{}floor-{partition}", kafka.topic_prefix);
    let producer = TransactionalProducer::create(&kafka.transactional_producer(&id))?;
    producer.init_transactions(TIMEOUT)?;
    let (event, result, snapshot) = (
        vec![b'e'; EVENT_BYTES],
        vec![b'r'; RESULT_BYTES],
        vec![b's'; SNAPSHOT_BYTES],
    );
    while !stop.load(Ordering::SeqCst) {
        let Some(first) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let mut batch = vec![first?.detach()];
        while batch.len() < 256 {
            match consumer.poll(Duration::ZERO) {
                Some(message) => batch.push(message?.detach()),
                None => break,
            }
        }
        producer.begin_transaction()?;
        let mut next = 0;
        for command in &batch {
            let n = command.payload().map(|p| &p[..8]).unwrap_or_default();
            let key = command.key().unwrap_or_default();
            let mut answer = n.to_vec();
            answer.extend_from_slice(&result);
            for (topic, value) in [
                (&topics.events, event.as_slice()),
                (&topics.results, answer.as_slice()),
                (&topics.snapshots, snapshot.as_slice()),
            ] {
                let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
                    .key(key)
                    .payload(value)
                    .partition(partition);
                producer.send(record)?;
            }
            next = command.offset() + 1;
        }
        let position = next.to_string();
        let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&topics.snapshots)
            .key(b"~commands-position".as_slice())
            .payload(position.as_bytes())
            .partition(partition);
        producer.send(record)?;
        producer.wait_delivered(TIMEOUT)?;
        producer.commit_transaction(TIMEOUT)?;
    }
    Ok(())
}

/// Reads every result (read_committed), noting when each command's arrived.
fn results(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partitions: i32,
    total: u64,
) -> anyhow::Result<Vec<Option<Instant>>> {
    let consumer: BaseConsumer = kafka
        .read_committed_consumer(&format!("{}floor-results", kafka.topic_prefix))
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(&topics.results, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut arrivals = vec![None; usize::try_from(total)?];
    let mut received = 0;
    let mut last = Instant::now();
    while received < total && last.elapsed() < TIMEOUT {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let now = Instant::now();
        let message = message?;
        let Some(n) = message
            .payload()
            .and_then(|p| p.get(..8))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
            .and_then(|n| usize::try_from(n).ok())
        else {
            continue;
        };
        if let Some(slot) = arrivals.get_mut(n) {
            if slot.is_none() {
                *slot = Some(now);
                received += 1;
            }
        }
        last = now;
    }
    Ok(arrivals)
}
