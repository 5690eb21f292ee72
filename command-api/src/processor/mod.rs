//! The command processor role: a consumer group on the commands topic. Each assigned
//! partition gets its own transactional writer and the rebuilt state of its orders; batches
//! of commands become events, results, snapshots and consumed offsets in one transaction.
//!
//! It runs on a dedicated thread with a polled consumer (rebalance callbacks run inside
//! `poll`, and transactional calls block), and hands each partition's batch to a scoped
//! thread so the partitions' transactions commit in parallel.
//!
//! Layout: [`slot`] (one order and one command, pure), `partition` (one partition's
//! transaction), [`rebuild`] (state on assignment), `rebalance` (assignment bookkeeping).

mod partition;
mod rebalance;
pub mod rebuild;
pub mod slot;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet};
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};

use partition::{BatchError, PartitionWorker, new_producer};
pub use partition::{SNAPSHOT_FORMAT, Snapshot};
pub use rebalance::ProcessorStatus;
use rebalance::{Change, RebalanceContext};

/// How the processor role consumes and batches.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// Consumer group of the processors; every processor of one platform shares it.
    pub group_id: String,
    /// Most commands handled in one transaction.
    pub batch_max: usize,
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
    let mut workers: HashMap<i32, PartitionWorker> = HashMap::new();
    let mut batch: Vec<OwnedMessage> = Vec::with_capacity(settings.batch_max);

    while !stop.load(Ordering::SeqCst) {
        batch.clear();
        poll_batch(&consumer, settings.batch_max, &mut batch);
        apply_rebalances(kafka, topics, &consumer, &mut workers, status)?;

        let mut by_partition: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
        for message in batch.drain(..) {
            if workers.contains_key(&message.partition()) {
                by_partition
                    .entry(message.partition())
                    .or_default()
                    .push(message);
            }
        }
        if by_partition.is_empty() {
            continue;
        }
        let group = consumer
            .group_metadata()
            .ok_or(KafkaError::NoMessageReceived)?;
        let outcomes: Vec<(i32, Result<usize, BatchError>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = workers
                .iter_mut()
                .filter_map(|(partition, worker)| {
                    by_partition
                        .get(partition)
                        .map(|messages| (worker, messages))
                })
                .map(|(worker, messages)| {
                    let group = &group;
                    scope.spawn(move || {
                        (
                            worker.partition,
                            process_with_retries(worker, topics, messages, group),
                        )
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for (partition, outcome) in outcomes {
            let Err(error) = outcome else { continue };
            recover(
                kafka,
                topics,
                &consumer,
                &mut workers,
                partition,
                &by_partition[&partition],
                error,
            )?;
        }
    }
    tracing::info!("command processor stopping; leaving the group");
    consumer.unsubscribe();
    Ok(())
}

/// Waits briefly for a first command, then takes whatever else is already fetched.
fn poll_batch(
    consumer: &BaseConsumer<RebalanceContext>,
    max: usize,
    batch: &mut Vec<OwnedMessage>,
) {
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
}

const ABORT_RETRIES: usize = 5;

fn process_with_retries(
    worker: &mut PartitionWorker,
    topics: &TopicSet,
    messages: &[OwnedMessage],
    group: &rdkafka::consumer::ConsumerGroupMetadata,
) -> Result<usize, BatchError> {
    let mut attempt = 0;
    loop {
        match worker.process(topics, messages, group) {
            Err(BatchError::Aborted(error)) if attempt < ABORT_RETRIES => {
                attempt += 1;
                tracing::warn!(partition = worker.partition, attempt, %error, "transaction aborted; retrying the batch");
                metrics::counter!("orderlog_processor_aborts_total").increment(1);
                std::thread::sleep(Duration::from_millis(20 * attempt as u64));
            }
            other => return other,
        }
    }
}

/// After a batch failed for good: a fenced writer gives the partition up; another fatal
/// error replaces the producer and rewinds, so the batch is consumed again.
fn recover(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    consumer: &BaseConsumer<RebalanceContext>,
    workers: &mut HashMap<i32, PartitionWorker>,
    partition: i32,
    messages: &[OwnedMessage],
    error: BatchError,
) -> Result<(), ProcessorError> {
    if let BatchError::Corrupt(reason) = &error {
        return Err(ProcessorError::Batch {
            partition,
            error: reason.clone(),
        });
    }
    if error.is_fenced() {
        tracing::warn!(partition, "fenced by a newer owner; dropping the partition");
        workers.remove(&partition);
        return Ok(());
    }
    tracing::warn!(partition, %error, "replacing the producer and rewinding the partition");
    workers.remove(&partition);
    let producer = match new_producer(kafka, topics, partition) {
        Ok(producer) => producer,
        Err(error) => {
            return Err(ProcessorError::Batch {
                partition,
                error: error.to_string(),
            });
        }
    };
    let (orders, _) = rebuild::rebuild(kafka, topics, partition)
        .map_err(|error| ProcessorError::Rebuild { partition, error })?;
    let first = messages
        .iter()
        .map(|m| m.offset())
        .min()
        .unwrap_or_default();
    consumer.seek(
        &topics.commands,
        partition,
        Offset::Offset(first),
        Duration::from_secs(10),
    )?;
    workers.insert(
        partition,
        PartitionWorker {
            partition,
            producer,
            orders,
        },
    );
    Ok(())
}

/// Drops revoked partitions and prepares newly assigned ones: fence the previous writer,
/// then rebuild the partition's orders (in parallel across partitions).
fn apply_rebalances(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    consumer: &BaseConsumer<RebalanceContext>,
    workers: &mut HashMap<i32, PartitionWorker>,
    status: &ProcessorStatus,
) -> Result<(), ProcessorError> {
    let mut assigned = Vec::new();
    for change in consumer.context().take_changes() {
        match change {
            Change::Revoked(partitions) => {
                for partition in partitions {
                    workers.remove(&partition);
                    assigned.retain(|p| *p != partition);
                }
            }
            Change::Assigned(partitions) => assigned.extend(partitions),
        }
    }
    if assigned.is_empty() {
        status.set_partitions(workers.keys().copied().collect());
        return Ok(());
    }
    tracing::info!(
        ?assigned,
        "partitions assigned; fencing previous writers and rebuilding"
    );
    let prepared: Vec<Result<PartitionWorker, ProcessorError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = assigned
            .iter()
            .map(|&partition| scope.spawn(move || prepare_partition(kafka, topics, partition)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(ProcessorError::Panicked)))
            .collect()
    });
    for worker in prepared {
        let worker = worker?;
        workers.insert(worker.partition, worker);
    }
    status.set_partitions(workers.keys().copied().collect());
    Ok(())
}

/// How long taking over a partition may keep failing on transient errors (a coordinator
/// still loading, a broker restarting) before the processor gives up and exits.
const PREPARE_PATIENCE: Duration = Duration::from_secs(120);

/// Fences the partition's previous writer and rebuilds its orders, retrying what a busy or
/// freshly started cluster makes fail for a while.
fn prepare_partition(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<PartitionWorker, ProcessorError> {
    let deadline = Instant::now() + PREPARE_PATIENCE;
    let mut backoff = Duration::from_millis(200);
    loop {
        let attempt = new_producer(kafka, topics, partition)
            .map_err(ProcessorError::from)
            .and_then(|producer| {
                let (orders, _) = rebuild::rebuild(kafka, topics, partition)
                    .map_err(|error| ProcessorError::Rebuild { partition, error })?;
                Ok(PartitionWorker {
                    partition,
                    producer,
                    orders,
                })
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
