//! One commands partition owned by this processor: its transactional producer, the state of
//! its orders, and the transaction that turns a batch of commands into events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use event_store::{KafkaConfig, TopicSet, TransactionalProducer, wire};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer};
use schemas::cloudevents;
use schemas::values::OrderId;
use schemas::{CommandEnvelope, CommandResult};

use super::orders::Orders;
use super::rebuild::{self, RebuildError};
use super::slot::OrderSlot;
use super::snapshots::{self, POSITION_KEY, Position, Screened};
use super::untrusted::{self, Unusable};
use super::written::Written;
use crate::answers::{Answers, Path};

const TXN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a commit whose outcome is not known yet is retried before the producer is
/// replaced: past the transaction timeout (30 s), the coordinator has decided it.
const COMMIT_PATIENCE: Duration = Duration::from_secs(45);
/// How long a fold waits for the log to show this writer's last commit (its markers are
/// normally written within milliseconds) before the batch is refused.
const FOLD_PATIENCE: Duration = Duration::from_secs(5);

/// The stable transactional id of a partition's writer: a new owner initialising it fences
/// the previous owner and aborts its open transaction at once.
pub(crate) fn transactional_id(topics: &TopicSet, partition: i32) -> String {
    format!("{}.processor-{partition}", topics.commands)
}

pub(crate) fn new_producer(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<TransactionalProducer, KafkaError> {
    let mut config = kafka.transactional_producer(&transactional_id(topics, partition));
    config.set(
        "statistics.interval.ms",
        event_store::statistics::INTERVAL_MS,
    );
    let producer = TransactionalProducer::create(&config)?;
    producer.init_transactions(TXN_TIMEOUT)?;
    Ok(producer)
}

pub(crate) struct PartitionWorker {
    pub(crate) partition: i32,
    /// The topics' partition count: a command must be keyed to an order of its partition.
    pub(crate) partitions: i32,
    pub(crate) producer: TransactionalProducer,
    pub(crate) orders: Orders,
    /// To fold an order's events when its snapshot turns out unreadable.
    pub(crate) kafka: KafkaConfig,
    /// How far the takeover screened the partition's topics, recorded with each position.
    pub(crate) screened: Screened,
    /// The HTTP tier's waiting requests, when it runs in this process: each committed
    /// result is handed to them right after the commit (`crate::answers`).
    pub(crate) answers: Option<Answers>,
}

/// How a failed transaction ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    /// Aborted; the state is restored. The producer is replaced all the same: with
    /// librdkafka's transactions a record of the aborted transaction still retried could
    /// otherwise land in the next one.
    #[error("transaction aborted: {0}")]
    Aborted(KafkaError),
    /// The producer cannot go on (fenced, or a commit whose outcome it could not learn);
    /// the state is restored, and the partition must be re-initialised (which settles the
    /// outcome at the coordinator) and rebuilt from the log, or given up.
    #[error("producer unusable: {0}")]
    Fatal(KafkaError),
    /// The state cannot take an event the domain decided, or an order's events do not
    /// fold: a bug. Aborted; not retried.
    #[error("state corrupt: {0}")]
    Corrupt(String),
    /// An order's snapshot was unreadable and its events could not be read: nothing was
    /// written; the partition is recovered like after a fatal error.
    #[error("order state not loaded: {0}")]
    NotLoaded(String),
}

impl PartitionWorker {
    /// Decides every command of the batch and writes events, results, snapshots and the
    /// partition's new position in one Kafka transaction; returns that position (the next
    /// commands offset). On failure the state is as before.
    /// `stopping`: the partition is being given up; a commit whose outcome is unknown is
    /// then not waited for (whoever takes the partition over settles it).
    pub(crate) fn process(
        &mut self,
        topics: &TopicSet,
        batch: &[OwnedMessage],
        stopping: &AtomicBool,
    ) -> Result<i64, BatchError> {
        let started = Instant::now();
        let mut backup: HashMap<OrderId, Option<OrderSlot>> = HashMap::new();
        let mut written = Vec::new();
        let mut results = Vec::new();
        let result = self.transaction(
            topics,
            batch,
            &mut backup,
            &mut written,
            &mut results,
            stopping,
        );
        if result.is_ok() {
            // Committed (durable at the coordinator; read_committed readers see the results
            // once the commit markers are written, a moment from now).
            if let Some(answers) = &self.answers {
                for result in &results {
                    answers.answer(result, Path::InProcess);
                }
            }
            // Back to the bytes just committed: a parsed slot is several times their size.
            for (order_id, value) in written {
                self.orders.settle(order_id, value);
            }
        } else {
            for (order_id, slot) in backup {
                match slot {
                    Some(slot) => self.orders.insert(order_id, slot),
                    None => self.orders.remove(&order_id),
                }
            }
        }
        metrics::histogram!("orderlog_processor_transaction_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("orderlog_processor_batch_size").record(batch.len() as f64);
        result
    }

    fn transaction(
        &mut self,
        topics: &TopicSet,
        batch: &[OwnedMessage],
        backup: &mut HashMap<OrderId, Option<OrderSlot>>,
        snapshots_written: &mut Vec<(OrderId, Vec<u8>)>,
        results: &mut Vec<CommandResult>,
        stopping: &AtomicBool,
    ) -> Result<i64, BatchError> {
        let phase = |name: &'static str, since: Instant| {
            metrics::histogram!("orderlog_processor_transaction_phase_seconds", "phase" => name)
                .record(since.elapsed().as_secs_f64());
        };
        let started = Instant::now();
        let commands: Vec<Result<CommandEnvelope, Unusable>> = batch
            .iter()
            .map(|message| untrusted::command(message, self.partitions))
            .collect();
        // Before the transaction: loading may read the events partition, which would stop at
        // this transaction's first record.
        for command in commands.iter().flatten() {
            self.load(topics, command.order_id)?;
        }
        self.producer
            .begin_transaction()
            .map_err(|e| self.classify(e))?;
        for message in batch {
            crate::stages::since("to_transaction", message.timestamp());
        }
        let mut written = 0;
        // One span per command, open until the transaction ends: its trip through it.
        let mut spans = Vec::new();
        for (message, command) in batch.iter().zip(commands) {
            let mut command = match command {
                Ok(command) => command,
                Err(unusable) => {
                    tracing::warn!(partition = self.partition, offset = message.offset(), reason = %unusable, "command dead-lettered");
                    let (key, value, headers) = untrusted::dead_letter(message, &unusable);
                    self.send(
                        Written::DeadLetter.topic(topics),
                        key.as_deref(),
                        value.as_deref().unwrap_or_default(),
                        Some(headers),
                        None,
                    )?;
                    metrics::counter!("orderlog_processor_dead_letters_total", "reason" => unusable.label()).increment(1);
                    continue;
                }
            };
            if telemetry::trace::enabled() {
                let span = tracing::info_span!(
                    "process command",
                    otel.kind = "consumer",
                    partition = self.partition,
                    offset = message.offset(),
                    command_id = %command.command_id,
                    order_id = %command.order_id,
                );
                telemetry::trace::set_parent(&span, command.traceparent.as_deref());
                // The events carry this span's context onwards, to the projectors.
                command.traceparent = telemetry::trace::traceparent(&span).or(command.traceparent);
                spans.push(span);
            }
            backup
                .entry(command.order_id)
                .or_insert_with(|| self.orders.get(&command.order_id).cloned());
            let Some(slot) = self.orders.get_or_default(command.order_id) else {
                return Err(self.abandon(format!("order {} not loaded", command.order_id)));
            };
            let handled = match slot.handle(&command, Utc::now()) {
                Ok(handled) => handled,
                Err(error) => {
                    // The stored state cannot take its own decision: a bug, never the caller's fault.
                    tracing::error!(order_id = %command.order_id, %error, "decided event does not evolve");
                    return Err(self.abandon(error.to_string()));
                }
            };
            if slot.state.order().is_none() {
                // Commands on orders that do not exist leave nothing behind (no memory to grow).
                self.orders.remove(&command.order_id);
            }
            for event in &handled.events {
                let record = cloudevents::encode(event);
                let headers = wire::headers(&record);
                // The record's timestamp is the event's time, so Kafka's time index (and
                // offsets-for-times, which analysts' replays use) is an index of event time.
                self.send(
                    Written::Events.topic(topics),
                    Some(record.key.as_bytes()),
                    &record.value,
                    Some(headers),
                    Some(event.occurred_at.timestamp_millis()),
                )?;
                written += 1;
            }
            let result = CommandResult {
                command_id: command.command_id,
                order_id: command.order_id,
                fingerprint: command.fingerprint.clone(),
                processed_at: Utc::now(),
                outcome: handled.outcome,
            };
            let value = serde_json::to_vec(&result).unwrap_or_default();
            self.send(
                Written::Results.topic(topics),
                Some(command.order_id.to_string().as_bytes()),
                &value,
                None,
                None,
            )?;
            metrics::counter!("orderlog_processor_commands_total", "outcome" => outcome_label(&result)).increment(1);
            results.push(result);
        }
        for order_id in backup.keys() {
            if let Some(slot) = self.orders.get(order_id) {
                let (value, headers) = snapshots::encode(slot);
                self.send(
                    Written::Snapshots.topic(topics),
                    Some(order_id.to_string().as_bytes()),
                    &value,
                    Some(headers),
                    None,
                )?;
                snapshots_written.push((*order_id, value));
            }
        }
        // The position travels with the snapshots it describes: whoever rebuilds the
        // partition from them resumes the commands exactly after this batch. (Sending the
        // offset to the consumer group instead, `send_offsets_to_transaction`, costs two
        // more requests and a fourth partition per transaction; docs/performance.md.)
        let next_offset = batch.iter().map(Message::offset).max().unwrap_or_default() + 1;
        let position = serde_json::to_vec(&Position {
            next_offset,
            screened: self.screened,
        })
        .unwrap_or_default();
        self.send(
            Written::Snapshots.topic(topics),
            Some(POSITION_KEY),
            &position,
            None,
            None,
        )?;
        phase("decide_and_send", started);
        let since = Instant::now();
        self.drain()?;
        phase("deliver", since);
        let since = Instant::now();
        self.commit(stopping)?;
        phase("commit", since);
        drop(spans);
        metrics::counter!("orderlog_processor_events_total").increment(written as u64);
        Ok(next_offset)
    }

    /// Parses the order's snapshot on its first command; an unreadable one is replaced by
    /// a fold of the order's events and results.
    ///
    /// The fold reads to the last stable offset, which a commit moves only once its markers
    /// are written: a moment after `commit_transaction` returned, or much later behind a
    /// transaction another producer left open. Folded before that, the order would miss
    /// this writer's last batch and decide its commands again. So the fold waits until both
    /// partitions are readable to their end, and otherwise refuses: the batch fails without
    /// writing, and the partition is taken over afresh (which settles what is open).
    fn load(&mut self, topics: &TopicSet, order_id: OrderId) -> Result<(), BatchError> {
        let Err(unreadable) = self.orders.load(&order_id) else {
            return Ok(());
        };
        tracing::error!(partition = self.partition, %unreadable, "folding the order's events instead");
        metrics::counter!("orderlog_processor_unreadable_snapshots_total").increment(1);
        for written in [Written::Events, Written::Results] {
            let topic = written.topic(topics);
            event_store::wait_settled(&self.kafka, topic, self.partition, FOLD_PATIENCE).map_err(
                |error| {
                    BatchError::NotLoaded(format!(
                        "{topic} is not readable up to this writer's last commit: {error}"
                    ))
                },
            )?;
        }
        let slot = rebuild::order_from_events(&self.kafka, topics, self.partition, order_id)
            .map_err(|error: RebuildError| BatchError::NotLoaded(error.to_string()))?;
        self.orders.insert(order_id, slot);
        Ok(())
    }

    /// Commits the open transaction. A commit that timed out may still complete (the broker
    /// may have it; librdkafka says "retry call to resume"), so its outcome is unknown and
    /// nothing may be decided again until it is known: the same commit is resumed until it
    /// succeeds, turns out aborted, or the producer is lost (then the caller replaces it and
    /// reads the outcome from the log).
    fn commit(&self, stopping: &AtomicBool) -> Result<(), BatchError> {
        let deadline = Instant::now() + COMMIT_PATIENCE;
        loop {
            match self.producer.commit_transaction(TXN_TIMEOUT) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Transaction(error))
                    if error.is_retriable()
                        && !error.is_fatal()
                        && !error.txn_requires_abort()
                        && Instant::now() < deadline
                        && !stopping.load(Ordering::SeqCst) =>
                {
                    tracing::warn!(partition = self.partition, %error, "commit outcome not known yet; resuming the commit");
                    metrics::counter!("orderlog_processor_commit_retries_total").increment(1);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => return Err(self.abort(error)),
            }
        }
    }

    /// Aborts the open transaction after a bug showed; nothing is retried.
    fn abandon(&self, reason: String) -> BatchError {
        match self.producer.abort_transaction(TXN_TIMEOUT) {
            Ok(()) => BatchError::Corrupt(reason),
            Err(abort_error) => BatchError::Fatal(abort_error),
        }
    }

    fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        headers: Option<rdkafka::message::OwnedHeaders>,
        timestamp: Option<i64>,
    ) -> Result<(), BatchError> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
            .payload(value)
            .partition(self.partition);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        if let Some(timestamp) = timestamp {
            record = record.timestamp(timestamp);
        }
        self.producer
            .send(record)
            .map_err(|error| self.abort(error))
    }

    /// Waits until every record of the transaction is acknowledged, so the commit finds
    /// nothing in flight (rust-rdkafka's `commit_transaction` flushes in 100 ms polls).
    fn drain(&self) -> Result<(), BatchError> {
        self.producer
            .wait_delivered(TXN_TIMEOUT)
            .map_err(|error| self.abort(error))
    }

    /// Aborts the open transaction when the error allows it.
    fn abort(&self, error: KafkaError) -> BatchError {
        let classified = self.classify(error);
        if let BatchError::Aborted(_) = &classified {
            if let Err(abort_error) = self.producer.abort_transaction(TXN_TIMEOUT) {
                return BatchError::Fatal(abort_error);
            }
        }
        classified
    }

    fn classify(&self, error: KafkaError) -> BatchError {
        match &error {
            KafkaError::Transaction(e)
                if e.is_fatal() || e.is_retriable() && !e.txn_requires_abort() =>
            {
                BatchError::Fatal(error)
            }
            KafkaError::Transaction(_) | KafkaError::MessageProduction(_) => {
                BatchError::Aborted(error)
            }
            _ => BatchError::Aborted(error),
        }
    }
}

fn outcome_label(result: &CommandResult) -> &'static str {
    match &result.outcome {
        schemas::CommandOutcome::Accepted { .. } => "accepted",
        schemas::CommandOutcome::Rejected { .. } => "rejected",
        schemas::CommandOutcome::IdempotencyKeyReused => "idempotency_key_reused",
    }
}
