//! The command processor role: a consumer group on the commands topic. Each assigned
//! partition gets its own transactional writer, the rebuilt state of its orders, and a
//! thread; batches of commands become events, results, snapshots and the partition's
//! position in one transaction.
//!
//! The consumer runs on a dedicated thread with a polled consumer (rebalance callbacks run
//! inside `poll`) and hands each partition's commands to that partition's thread, which
//! starts its next transaction as soon as the previous one commits: partitions do not wait
//! for each other, and a command arriving mid-transaction waits for one commit at most.
//!
//! Layout: `slot` (one order and one command, pure), `partition` (one partition's
//! transaction), `producer` (its writer and the transaction's end), `lane` (one partition's
//! thread), `input` (what reaches it), `direct` (commands the HTTP tier hands a lane
//! in-process), `dispatch` (handing
//! fetched commands to the lanes), `takeover` (assignment and recovery), `rebuild` (state on assignment), `screen`
//! (unusable records a takeover reads), `settle` (what a new writer writes first),
//! `rebalance` (assignment bookkeeping), `untrusted` (checking command records), `visible`
//! (a commit trusted once readers see it); `measure`
//! (feature `measure`) is what the benchmarks reach of these.

mod compact;
mod direct;
mod dispatch;
mod final_store;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod hidden_commit;
mod input;
mod lane;
#[cfg(feature = "measure")]
pub mod measure;
mod orders;
mod partition;
mod producer;
mod rebalance;
mod rebuild;
mod screen;
mod settle;
mod slot;
mod snapshots;
mod takeover;
mod untrusted;
mod visible;
mod written;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use event_store::{KafkaConfig, TopicSet};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;

pub use direct::Owners;
use dispatch::Intake;
pub use rebalance::ProcessorStatus;
use rebalance::RebalanceContext;
pub use snapshots::{FORMAT_HEADER, POSITION_KEY, Position, SNAPSHOT_FORMAT, Screened, Snapshot};
/// The snapshot record format, for the upgrade tests that write what an older version wrote.
pub use snapshots::{decode as decode_snapshot, encode_format_1 as encode_snapshot_format_1};
use takeover::Takeover;

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
    /// The topics' partition count.
    pub partitions: i32,
    /// The HTTP tier's waiting requests, when it runs in the same process and takes
    /// results in-process: committed results are handed to them at once.
    pub answers: Option<crate::answers::Answers>,
    /// Where this process's HTTP tier finds the lanes serving partitions here, to hand
    /// them commands directly (`direct`).
    pub owners: Option<Owners>,
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
    #[error("the takeover was cancelled: the partition was revoked")]
    Cancelled,
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
            // The batch could not load an order (its events could not be read).
            ProcessorError::Batch { .. } => false,
            _ => false,
        }
    }
}

impl ProcessorError {
    /// Another writer initialised the same transactional id after ours (a takeover whose
    /// request reached the coordinator late, or the partition's next owner): not a bug; a
    /// takeover starts over with a new writer while the partition is still assigned here.
    fn is_fenced(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode as Code;
        let fenced = |code: Code| {
            matches!(
                code,
                Code::Fenced | Code::ProducerFenced | Code::InvalidProducerEpoch | Code::Fatal
            )
        };
        match self {
            ProcessorError::Kafka(KafkaError::Transaction(error)) => {
                error.is_fatal() || fenced(error.code())
            }
            ProcessorError::Kafka(error) => error.rdkafka_error_code().is_some_and(fenced),
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
        .set(
            "statistics.interval.ms",
            event_store::statistics::INTERVAL_MS,
        )
        .create_with_context(RebalanceContext::default())?;
    consumer.subscribe(&[&topics.commands])?;
    let (failures, failed) = mpsc::channel();
    let mut takeover = Takeover::new(kafka, topics, settings, &consumer, &failures);
    let mut intake = Intake::new(settings.batch_max);
    let result = (|| {
        while !stop.load(Ordering::SeqCst) {
            for failure in failed.try_iter() {
                takeover.recover(failure)?;
            }
            let polled = poll_batch(&consumer, settings.batch_max);
            takeover.apply_rebalances(status)?;
            intake.dispatch(&consumer, &topics.commands, polled);
            intake.publish_positions(&consumer, &topics.commands);
        }
        Ok(())
    })();
    tracing::info!(
        "command processor stopping; finishing transactions in flight and leaving the group"
    );
    takeover.cancel_all();
    let owned: Vec<i32> = consumer.context().lanes().keys().copied().collect();
    consumer.context().stop_lanes(&owned);
    event_store::group::leave(&consumer, Duration::from_secs(10));
    result
}

/// Waits briefly for a first command, then takes whatever else is already fetched.
fn poll_batch(consumer: &BaseConsumer<RebalanceContext>, max: usize) -> Vec<OwnedMessage> {
    let mut batch = Vec::new();
    let mut timeout = Duration::from_millis(100);
    while batch.len() < max {
        match consumer.poll(timeout) {
            Some(Ok(message)) => {
                crate::stages::since("to_processor", message.timestamp());
                batch.push(message.detach());
            }
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
