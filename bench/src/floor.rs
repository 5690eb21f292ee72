//! `bench floor`: the Kafka work a command must do and nothing else, at a fixed rate, for
//! either intake. No HTTP, no JSON, no domain code. Each latency is timed from the
//! command's intended start (open loop), so the floor is what a command's latency can
//! approach.
//!
//! - `direct` (a command handed to the lane owning its partition in-process): a writer per
//!   partition takes whatever commands have arrived, and in one transaction writes a
//!   record to each topic a command's transaction writes (events, results, snapshots) and
//!   commits; the command is answered when the commit returns.
//! - `topic` (a command through the commands topic): a producer configured as the HTTP
//!   tier's produces a command record; a read_committed consumer per partition (the
//!   processor's settings) takes what has arrived; one transaction per batch writes the
//!   same records and the partition's position, and commits; a read_committed reader of the
//!   results (the HTTP tier's settings) receives the result.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
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
    /// Which intake's floor.
    #[arg(long, value_enum, default_value = "direct")]
    intake: Intake,
}

/// How a command reaches the partition's writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Intake {
    /// Handed over in-process; answered when the commit returns.
    Direct,
    /// Through the commands topic; answered from the results topic.
    Topic,
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

/// The floor of `intake` at `rate` for `seconds`: its latency summary and how many never
/// arrived.
pub(crate) async fn measure(
    bootstrap: &str,
    intake: Intake,
    rate: u64,
    seconds: u64,
    partitions: i32,
) -> anyhow::Result<(stats::Summary, u64)> {
    let (prefix, kafka, topics) =
        testkit::harness::stack::bench_topics(bootstrap, "floor-", partitions).await?;
    let measured = match intake {
        Intake::Direct => direct(&kafka, &topics, rate, seconds, partitions).await,
        Intake::Topic => through_topic(&kafka, &topics, rate, seconds, partitions).await,
    };
    testkit::harness::clean::remove_topics(bootstrap, &[&prefix]).await?;
    measured
}

/// A producer of command records configured as the HTTP tier's (idempotent, acks=all,
/// 1 ms linger, the platform's partitioner).
pub(crate) fn command_producer(
    kafka: &KafkaConfig,
) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    Ok(kafka
        .client()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("partitioner", "murmur2_random")
        .create()?)
}

/// The commands of a run: warm-up ones first, then the measured; the interval between two.
pub(crate) fn schedule(rate: u64, seconds: u64) -> anyhow::Result<(u64, u64, Duration)> {
    let warm_up = rate * WARM_UP.as_secs();
    let interval = Duration::from_secs(1) / u32::try_from(rate.max(1))?;
    Ok((warm_up, rate * seconds + warm_up, interval))
}

/// The latencies of the measured commands, from their intended starts.
pub(crate) fn summarise(
    arrivals: &[Option<Instant>],
    started: Instant,
    interval: Duration,
    warm_up: u64,
) -> anyhow::Result<(stats::Summary, u64)> {
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
    Ok((stats::summary(&histogram), missing))
}

/// The floor of a command handed to its partition's writer in-process.
async fn direct(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    rate: u64,
    seconds: u64,
    partitions: i32,
) -> anyhow::Result<(stats::Summary, u64)> {
    let (warm_up, total, interval) = schedule(rate, seconds)?;
    let arrivals = Arc::new(Mutex::new(vec![None; usize::try_from(total)?]));
    let mut lanes = Vec::new();
    let mut writers = Vec::new();
    for partition in 0..partitions {
        let (sender, receiver) = mpsc::channel::<u64>();
        lanes.push(sender);
        let (kafka, topics, arrivals) = (kafka.clone(), topics.clone(), arrivals.clone());
        writers.push(std::thread::spawn(move || {
            lane(&kafka, &topics, partition, &receiver, &arrivals)
        }));
    }
    // Give the writers their initialisation before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    for n in 0..total {
        tokio::time::sleep_until((started + interval * u32::try_from(n)?).into()).await;
        let lane = &lanes[usize::try_from(n % u64::try_from(partitions)?)?];
        lane.send(n)
            .map_err(|_| anyhow::anyhow!("a writer ended early"))?;
    }
    drop(lanes);
    for writer in writers {
        tokio::task::spawn_blocking(move || writer.join())
            .await?
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    let arrivals = arrivals
        .lock()
        .map_err(|_| anyhow::anyhow!("a writer panicked"))?
        .clone();
    summarise(&arrivals, started, interval, warm_up)
}

/// One partition's writer for direct commands: whatever has arrived, in one transaction;
/// each command answered when its commit returns. Ends when the channel closes.
fn lane(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    commands: &mpsc::Receiver<u64>,
    arrivals: &Mutex<Vec<Option<Instant>>>,
) -> anyhow::Result<()> {
    let id = format!("{}floor-{partition}", kafka.topic_prefix);
    let producer = TransactionalProducer::create(&kafka.transactional_producer(&id))?;
    producer.init_transactions(TIMEOUT)?;
    let records = Records::new();
    while let Ok(first) = commands.recv() {
        let mut batch = vec![first];
        batch.extend(commands.try_iter().take(255));
        producer.begin_transaction()?;
        for n in &batch {
            records.send(
                &producer,
                topics,
                partition,
                &n.to_le_bytes(),
                &n.to_le_bytes(),
            )?;
        }
        producer.wait_delivered(TIMEOUT)?;
        producer.commit_transaction(TIMEOUT)?;
        let now = Instant::now();
        let mut arrivals = arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for n in batch {
            if let Some(slot) = arrivals.get_mut(usize::try_from(n)?) {
                *slot = Some(now);
            }
        }
    }
    Ok(())
}

/// What one command's transaction writes beside its position, at the platform's sizes.
struct Records {
    event: Vec<u8>,
    result: Vec<u8>,
    snapshot: Vec<u8>,
}

impl Records {
    fn new() -> Self {
        Self {
            event: vec![b'e'; EVENT_BYTES],
            result: vec![b'r'; RESULT_BYTES],
            snapshot: vec![b's'; SNAPSHOT_BYTES],
        }
    }

    /// Sends an event, a result (starting with `n`, the command's number) and a snapshot.
    fn send(
        &self,
        producer: &TransactionalProducer,
        topics: &TopicSet,
        partition: i32,
        key: &[u8],
        n: &[u8],
    ) -> anyhow::Result<()> {
        let mut answer = n.to_vec();
        answer.extend_from_slice(&self.result);
        for (topic, value) in [
            (&topics.events, self.event.as_slice()),
            (&topics.results, answer.as_slice()),
            (&topics.snapshots, self.snapshot.as_slice()),
        ] {
            let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
                .key(key)
                .payload(value)
                .partition(partition);
            producer.send(record)?;
        }
        Ok(())
    }
}

/// The floor of a command through the commands topic, answered from the results topic.
async fn through_topic(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    rate: u64,
    seconds: u64,
    partitions: i32,
) -> anyhow::Result<(stats::Summary, u64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..partitions)
        .map(|partition| {
            let (kafka, topics, stop) = (kafka.clone(), topics.clone(), stop.clone());
            std::thread::spawn(move || processor(&kafka, &topics, partition, &stop))
        })
        .collect();
    let (warm_up, total, interval) = schedule(rate, seconds)?;
    let reader = {
        let (kafka, topics) = (kafka.clone(), topics.clone());
        std::thread::spawn(move || results(&kafka, &topics, partitions, total))
    };
    // Give the writers and the reader their assignments before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let producer = command_producer(kafka)?;
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
    summarise(&arrivals, started, interval, warm_up)
}

pub(crate) async fn run(args: Floor) -> anyhow::Result<()> {
    let (summary, missing) = measure(
        &args.kafka.bootstrap,
        args.intake,
        args.rate,
        args.seconds,
        args.partitions,
    )
    .await?;
    println!(
        "floor ({:?}) at {} commands/s for {} s on {} partitions ({missing} missing): {summary}",
        args.intake, args.rate, args.seconds, args.partitions
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
    let records = Records::new();
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
            records.send(&producer, topics, partition, key, n)?;
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
        if let Some(slot) = arrivals.get_mut(n)
            && slot.is_none()
        {
            *slot = Some(now);
            received += 1;
        }
        last = now;
    }
    Ok(arrivals)
}
