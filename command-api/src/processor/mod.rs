//! The command processor role: a consumer group on the commands topic. Each assigned
//! partition gets its own transactional writer, the rebuilt state of its orders, and a
//! thread; batches of commands become events, results, snapshots and consumed offsets in
//! one transaction.
//!
//! The consumer runs on a dedicated thread with a polled consumer (rebalance callbacks run
//! inside `poll`) and hands each partition's commands to that partition's thread, which
//! starts its next transaction as soon as the previous one commits: partitions do not wait
//! for each other, and a command arriving mid-transaction waits for one commit at most.
//!
//! Layout: [`slot`] (one order and one command, pure), `partition` (one partition's
//! transaction), `lane` (one partition's thread), [`rebuild`] (state on assignment),
//! `rebalance` (assignment bookkeeping).

mod lane;
mod partition;
mod rebalance;
pub mod rebuild;
pub mod slot;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use lane::{Failure, Lane, Pacing};
use partition::{BatchError, PartitionWorker, new_producer};
pub use partition::{POSITION_KEY, Position, SNAPSHOT_FORMAT, Snapshot};
pub use rebalance::ProcessorStatus;
use rebalance::{Change, RebalanceContext};

/// How the processor role consumes and batches.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// Consumer group of the processors; every processor of one platform shares it.
    pub group_id: String,
    /// Most commands handled in one transaction.
    pub batch_max: usize,
    /// Least time between the starts of a partition's transactions, unless a full batch
    /// waits.
    pub transaction_interval: Duration,
    /// How long the group waits for a silent processor before giving its partitions away.
    pub session_timeout: Duration,
}

/// A running processor thread.
#[derive(Debug)]
pub struct Processor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), ProcessorError>>>,
    exited: Arc<tokio::sync::Notify>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("rebuilding partition {partition}: {error}")]
    Rebuild {
        partition: i32,
        error: rebuild::RebuildError,
    },
    #[error("partition {partition}: {error}")]
    Batch { partition: i32, error: String },
    #[error("the processor thread panicked")]
    Panicked,
}

impl ProcessorError {
    /// Worth retrying: the cluster is busy, starting, or briefly out of reach.
    fn is_transient(&self) -> bool {
        match self {
            ProcessorError::Kafka(KafkaError::Transaction(error)) if error.is_retriable() => true,
            ProcessorError::Kafka(error) => event_store::reader::is_transient(error),
            ProcessorError::Rebuild {
                error: rebuild::RebuildError::Read { .. },
                ..
            } => true,
            _ => false,
        }
    }
}

impl Processor {
    pub fn spawn(
        kafka: KafkaConfig,
        topics: TopicSet,
        settings: ProcessorSettings,
        status: ProcessorStatus,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let exited = Arc::new(tokio::sync::Notify::new());
        let thread = std::thread::Builder::new()
            .name("command-processor".to_owned())
            .spawn({
                let (stop, exited) = (stop.clone(), exited.clone());
                move || {
                    let result = run(&kafka, &topics, &settings, &status, &stop);
                    if let Err(error) = &result {
                        tracing::error!(%error, "command processor stopped");
                    }
                    status.set_stopped();
                    exited.notify_one();
                    result
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
            exited,
        })
    }

    /// Completes when the processor thread has ended, asked to or not.
    pub fn exited(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let exited = self.exited.clone();
        async move { exited.notified().await }
    }

    /// Finishes the batch in flight, leaves the group, and waits for the thread.
    pub fn stop(mut self) -> Result<(), ProcessorError> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map_or(Ok(()), |t| {
            t.join().unwrap_or(Err(ProcessorError::Panicked))
        })
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for Processor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn run(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    settings: &ProcessorSettings,
    status: &ProcessorStatus,
    stop: &AtomicBool,
) -> Result<(), ProcessorError> {
    let consumer: BaseConsumer<RebalanceContext> = kafka
        .read_committed_consumer(&settings.group_id)
        .set("enable.partition.eof", "false")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set(
            "session.timeout.ms",
            settings.session_timeout.as_millis().to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (settings.session_timeout.as_millis() / 4)
                .max(100)
                .to_string(),
        )
        // An idle fetch waits this long at the broker, but the broker answers as soon as
        // records arrive, so a longer wait costs no latency and far fewer idle fetches.
        .set("fetch.wait.max.ms", "100")
        .create_with_context(RebalanceContext::default())?;
    consumer.subscribe(&[&topics.commands])?;
    let (failures, failed) = mpsc::channel();
    let mut intake = Intake::new(settings.batch_max);
    let result = (|| {
        while !stop.load(Ordering::SeqCst) {
            for failure in failed.try_iter() {
                recover(kafka, topics, settings, &consumer, &failures, failure)?;
            }
            let polled = poll_batch(&consumer, settings.batch_max);
            apply_rebalances(kafka, topics, settings, &consumer, &failures, status)?;
            intake.dispatch(&consumer, &topics.commands, polled)?;
            intake.publish_positions(&consumer, &topics.commands);
        }
        Ok(())
    })();
    tracing::info!(
        "command processor stopping; finishing transactions in flight and leaving the group"
    );
    let owned: Vec<i32> = consumer.context().lanes().keys().copied().collect();
    consumer.context().stop_lanes(&owned);
    consumer.unsubscribe();
    result
}

/// Waits briefly for a first command, then takes whatever else is already fetched.
fn poll_batch(consumer: &BaseConsumer<RebalanceContext>, max: usize) -> Vec<OwnedMessage> {
    let mut batch = Vec::new();
    let mut timeout = Duration::from_millis(100);
    while batch.len() < max {
        match consumer.poll(timeout) {
            Some(Ok(message)) => batch.push(message.detach()),
            Some(Err(error)) => {
                tracing::warn!(%error, "consumer error");
                break;
            }
            None => break,
        }
        timeout = Duration::ZERO;
    }
    batch
}

/// Hands polled commands to their partitions' threads, and pauses fetching a partition
/// whose thread has fallen behind (so a backlog stays in Kafka, not in memory).
struct Intake {
    /// Queued commands above which a partition is paused; it resumes below a quarter.
    high_water: usize,
    paused: HashSet<i32>,
    published: Instant,
}

/// How often the positions are also committed to the consumer group, for lag tools.
const PUBLISH_EVERY: Duration = Duration::from_secs(5);

impl Intake {
    fn new(batch_max: usize) -> Self {
        Self {
            high_water: batch_max * 4,
            paused: HashSet::new(),
            published: Instant::now(),
        }
    }

    /// Commits the partitions' positions to the consumer group now and then. Only for
    /// the group's lag as tools show it: the truth is the position record each
    /// transaction writes to the snapshots topic.
    fn publish_positions(&mut self, consumer: &BaseConsumer<RebalanceContext>, topic: &str) {
        if self.published.elapsed() < PUBLISH_EVERY {
            return;
        }
        self.published = Instant::now();
        let mut list = TopicPartitionList::new();
        for (&partition, lane) in consumer.context().lanes().iter() {
            if let Some(offset) = lane.committed() {
                let _ = list.add_partition_offset(topic, partition, Offset::Offset(offset));
            }
        }
        if list.count() > 0 {
            if let Err(error) = consumer.commit(&list, CommitMode::Async) {
                tracing::debug!(%error, "publishing positions to the consumer group");
            }
        }
    }

    fn dispatch(
        &mut self,
        consumer: &BaseConsumer<RebalanceContext>,
        topic: &str,
        polled: Vec<OwnedMessage>,
    ) -> Result<(), ProcessorError> {
        let lanes = consumer.context().lanes();
        if !polled.is_empty() {
            let mut by_partition: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
            for message in polled {
                by_partition
                    .entry(message.partition())
                    .or_default()
                    .push(message);
            }
            for (partition, messages) in by_partition {
                // A partition without a thread was revoked, or is being recovered (its
                // consumer is rewound): the commands are fetched again.
                if let Some(lane) = lanes.get(&partition) {
                    lane.send(messages);
                }
            }
        }
        let mut pause = TopicPartitionList::new();
        let mut resume = TopicPartitionList::new();
        for (&partition, lane) in lanes.iter() {
            let queued = lane.queued();
            if queued > self.high_water && self.paused.insert(partition) {
                pause.add_partition(topic, partition);
            } else if queued < self.high_water / 4 && self.paused.remove(&partition) {
                resume.add_partition(topic, partition);
            }
        }
        self.paused.retain(|p| lanes.contains_key(p));
        drop(lanes);
        if pause.count() > 0 {
            consumer.pause(&pause)?;
        }
        if resume.count() > 0 {
            consumer.resume(&resume)?;
        }
        Ok(())
    }
}

/// After a batch failed for good: a fenced writer gives the partition up; another fatal
/// error replaces the producer, rebuilds, and rewinds, so the batch is consumed again.
fn recover(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    settings: &ProcessorSettings,
    consumer: &BaseConsumer<RebalanceContext>,
    failures: &mpsc::Sender<Failure>,
    failure: Failure,
) -> Result<(), ProcessorError> {
    let Failure {
        partition,
        first_offset,
        error,
    } = failure;
    consumer.context().stop_lanes(&[partition]);
    if let BatchError::Corrupt(reason) = &error {
        return Err(ProcessorError::Batch {
            partition,
            error: reason.clone(),
        });
    }
    if error.is_fenced() {
        tracing::warn!(partition, "fenced by a newer owner; dropping the partition");
        return Ok(());
    }
    tracing::warn!(partition, %error, "replacing the producer and rewinding the partition");
    let (worker, next_offset) = prepare_partition(kafka, topics, partition)?;
    // The intake may have paused it while the failed lane was behind.
    let mut list = TopicPartitionList::new();
    list.add_partition(&topics.commands, partition);
    consumer.resume(&list)?;
    // The rebuilt position is the truth (a commit whose outcome was unknown may have
    // succeeded); without one, the failed batch is the first thing not committed.
    start_lane(
        topics,
        settings,
        consumer,
        failures,
        worker,
        Some(next_offset.unwrap_or(first_offset)),
    )
}

/// Positions the partition's consumer where its state ends and starts the partition's
/// thread. `None` keeps the consumer group's committed offset.
fn start_lane(
    topics: &TopicSet,
    settings: &ProcessorSettings,
    consumer: &BaseConsumer<RebalanceContext>,
    failures: &mpsc::Sender<Failure>,
    worker: PartitionWorker,
    next_offset: Option<i64>,
) -> Result<(), ProcessorError> {
    let partition = worker.partition;
    let mut list = TopicPartitionList::new();
    list.add_partition(&topics.commands, partition);
    if let Some(offset) = next_offset {
        list.set_partition_offset(&topics.commands, partition, Offset::Offset(offset))?;
        // Asynchronous: a blocking seek on a partition assigned a moment ago waited up to
        // a second. What the consumer fetched from its earlier position never reaches a
        // transaction: the lane skips offsets below the position.
        consumer.seek_partitions(list.clone(), Duration::ZERO)?;
    }
    let lane = Lane::spawn(
        worker,
        next_offset,
        topics.clone(),
        Pacing {
            batch_max: settings.batch_max,
            interval: settings.transaction_interval,
        },
        failures.clone(),
    )
    .map_err(|e| ProcessorError::Batch {
        partition,
        error: e.to_string(),
    })?;
    consumer.context().lanes().insert(partition, lane);
    Ok(())
}

/// Starts threads for newly assigned partitions: fence the previous writer, then rebuild
/// the partition's orders (in parallel across partitions). Revoked partitions' threads
/// were stopped inside the rebalance callback.
fn apply_rebalances(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    settings: &ProcessorSettings,
    consumer: &BaseConsumer<RebalanceContext>,
    failures: &mpsc::Sender<Failure>,
    status: &ProcessorStatus,
) -> Result<(), ProcessorError> {
    let mut assigned = Vec::new();
    for change in consumer.context().take_changes() {
        match change {
            Change::Revoked(partitions) => assigned.retain(|p| !partitions.contains(p)),
            Change::Assigned(partitions) => assigned.extend(partitions),
        }
    }
    if !assigned.is_empty() {
        tracing::info!(
            ?assigned,
            "partitions assigned; fencing previous writers and rebuilding"
        );
        let prepared: Vec<Result<(PartitionWorker, Option<i64>), ProcessorError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = assigned
                    .iter()
                    .map(|&partition| {
                        scope.spawn(move || prepare_partition(kafka, topics, partition))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or(Err(ProcessorError::Panicked)))
                    .collect()
            });
        for prepared in prepared {
            let (worker, next_offset) = prepared?;
            start_lane(topics, settings, consumer, failures, worker, next_offset)?;
        }
    }
    status.set_partitions(consumer.context().lanes().keys().copied().collect());
    Ok(())
}

/// How long taking over a partition may keep failing on transient errors (a coordinator
/// still loading, a broker restarting) before the processor gives up and exits.
const PREPARE_PATIENCE: Duration = Duration::from_secs(120);

/// Fences the partition's previous writer and rebuilds its orders and position, retrying
/// what a busy or freshly started cluster makes fail for a while.
fn prepare_partition(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<(PartitionWorker, Option<i64>), ProcessorError> {
    let deadline = Instant::now() + PREPARE_PATIENCE;
    let mut backoff = Duration::from_millis(200);
    loop {
        let attempt = new_producer(kafka, topics, partition)
            .map_err(ProcessorError::from)
            .and_then(|producer| {
                let rebuilt = rebuild::rebuild(kafka, topics, partition)
                    .map_err(|error| ProcessorError::Rebuild { partition, error })?;
                let worker = PartitionWorker {
                    partition,
                    producer,
                    orders: rebuilt.orders,
                };
                Ok((worker, rebuilt.next_offset))
            });
        match attempt {
            Err(error) if error.is_transient() && Instant::now() + backoff < deadline => {
                tracing::warn!(partition, %error, retry_in_ms = backoff.as_millis() as u64, "taking over the partition failed; retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}
