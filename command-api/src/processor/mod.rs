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
//! Layout, by role: `store` (one order and one command, pure; how a partition's orders are
//! held; the snapshot record), `screening` (records read from Kafka checked as input),
//! `transaction` (what reaches a partition's thread, the batch decided and written in one
//! transaction, its writer, when a commit is trusted), `lanes` (the partitions' threads, the
//! consumer thread and the HTTP tier handing them commands), `recovery` (assignment,
//! takeover, rebuild). `measure` (feature `measure`) is what the benchmarks reach of these.

mod error;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod hidden_commit;
mod lanes;
#[cfg(feature = "measure")]
pub mod measure;
mod recovery;
mod screening;
mod settings;
mod store;
mod transaction;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use event_store::{KafkaConfig, TopicSet};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;

pub use error::ProcessorError;
pub use lanes::direct::Owners;
use lanes::dispatch::Intake;
pub use recovery::rebalance::ProcessorStatus;
use recovery::rebalance::RebalanceContext;
use recovery::takeover::Takeover;
pub use settings::ProcessorSettings;
/// The marks a writer puts on its records, for the tests that write what a writer wrote.
pub use store::marks::{EVENTS_FROM_HEADER, LETTERS_FROM_HEADER, TXN_EVENTS_HEADER, TXN_HEADER};
pub use store::snapshots::{
    FORMAT_HEADER, POSITION_KEY, Position, SNAPSHOT_FORMAT, Screened, Snapshot,
};
/// The snapshot record format, for the upgrade tests that write what an older version wrote.
pub use store::snapshots::{
    decode as decode_snapshot, encode_format_1 as encode_snapshot_format_1,
};

/// A running processor thread.
#[derive(Debug)]
pub struct Processor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), ProcessorError>>>,
    exited: Arc<tokio::sync::Notify>,
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
        // Served from the start, before the first deadline fires.
        for kind in ["payment_due", "ship_by"] {
            let _ = metrics::histogram!("orderlog_deadline_lateness_seconds", "kind" => kind);
        }
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
