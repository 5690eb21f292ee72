//! One commands partition owned by this processor: its transactional writer, the state of
//! its orders, and the transaction that turns a batch of commands into events, in named
//! steps: read the commands, load their orders, decide each one (events and result), write
//! the changed orders' snapshots and the partition's position, deliver, commit; then answer.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use chrono::Utc;
use event_store::{KafkaConfig, TopicSet, wire};
use rdkafka::message::{Message, OwnedHeaders};
use schemas::cloudevents;
use schemas::values::OrderId;
use schemas::{CommandEnvelope, CommandResult};

use crate::answers::{Answers, Path};
use crate::processor::lanes::stream_time::CommandsClock;
use crate::processor::recovery::rebuild::{self, RebuildError};
use crate::processor::screening::untrusted::{self, Unusable};
use crate::processor::store::marks::Marks;
use crate::processor::store::orders::Orders;
use crate::processor::store::slot::OrderSlot;
use crate::processor::store::snapshots::{self, POSITION_KEY, Position, Screened};
use crate::processor::transaction::input::{Direct, Item};
use crate::processor::transaction::producer::{BatchError, Writer};
use crate::processor::transaction::visible::Visibility;
use crate::processor::transaction::written::Written;

/// How long a fold waits for the log to show this writer's last commit (its markers are
/// normally written within milliseconds) before the batch is refused.
const FOLD_PATIENCE: Duration = Duration::from_secs(5);

pub(crate) struct PartitionWorker {
    pub(crate) partition: i32,
    /// The topics' partition count: a command must be keyed to an order of its partition.
    pub(crate) partitions: i32,
    pub(crate) writer: Writer,
    pub(crate) orders: Orders,
    /// To fold an order's events when its snapshot turns out unreadable.
    pub(crate) kafka: KafkaConfig,
    /// How far the takeover screened the partition's topics, recorded with each position.
    pub(crate) screened: Screened,
    /// The HTTP tier's waiting requests, when it runs in this process: each committed
    /// result is handed to them right after the commit (`crate::answers`).
    pub(crate) answers: Option<Answers>,
    /// The windows the domain grants the orders (`schemas::order::deadline`).
    pub(crate) policy: schemas::order::Policy,
    /// How far the commands partition is taken: the deadlines' stream time.
    pub(crate) commands_clock: CommandsClock,
    /// Whether a committed transaction is readable yet (`visible`).
    pub(crate) visibility: Visibility,
    /// The events offset the orders' states are complete up to: named by every snapshot
    /// this writer writes, so a rebuild folds any committed event after it that the
    /// snapshots lack (`recovery/catch_up.rs`). `None` until known.
    pub(crate) events_from: Option<i64>,
    /// Orders whose latest snapshot record is not their state (the takeover gave them events
    /// their snapshots lacked, or set their last snapshots aside): written with the next
    /// transaction's snapshots.
    pub(crate) stale: HashSet<OrderId>,
    /// Whether the next transaction writes the position even without commands-topic records
    /// (the takeover set the latest one aside).
    pub(crate) rewrite_position: Option<i64>,
    /// The number of the next transaction (`store::marks`).
    pub(crate) txn: i64,
    /// The dead-letter offset every later letter is at or after, named by each position.
    pub(crate) letters_from: Option<i64>,
    /// Commands offsets past the position whose letter is written already
    /// (`recovery/letters.rs`): passed without another.
    pub(crate) lettered: HashSet<i64>,
}

/// What a transaction changed, kept for after it ends.
#[derive(Default)]
pub(super) struct Changes {
    /// The orders as they were before the batch, restored when it fails.
    pub(super) backup: HashMap<OrderId, Option<OrderSlot>>,
    /// The snapshots written: once committed, the orders are kept as these bytes.
    snapshots: Vec<(OrderId, Vec<u8>)>,
    /// Each decided command's result, with its place in the batch.
    results: Vec<(usize, CommandResult)>,
    events: usize,
    /// The deadlines fired, by kind and due time (`deadlines.rs`).
    pub(super) fired: Vec<(&'static str, chrono::DateTime<Utc>)>,
}

impl PartitionWorker {
    /// Decides every command of the batch and writes events, results, snapshots and, when
    /// the batch holds commands-topic records, the partition's new position, in one Kafka
    /// transaction; returns that position (the next commands offset). Once committed, the
    /// direct commands of the batch get their results. On failure the state is as before,
    /// and the direct commands' replies are dropped (their requests send them again).
    /// `stopping`: the partition is being given up; a commit whose outcome is unknown is
    /// then not waited for (whoever takes the partition over settles it).
    pub(crate) fn process(
        &mut self,
        topics: &TopicSet,
        batch: Vec<Item>,
        stopping: &AtomicBool,
    ) -> Result<Option<i64>, BatchError> {
        let started = Instant::now();
        let size = batch.len();
        let mut changes = Changes::default();
        let result = self.transaction(topics, &batch, &mut changes, stopping);
        self.txn += 1;
        match &result {
            Ok(_) => self.committed(batch, changes),
            Err(_) => self.restore(changes.backup),
        }
        metrics::histogram!("orderlog_processor_transaction_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("orderlog_processor_batch_size").record(size as f64);
        result
    }

    fn transaction(
        &mut self,
        topics: &TopicSet,
        batch: &[Item],
        changes: &mut Changes,
        stopping: &AtomicBool,
    ) -> Result<Option<i64>, BatchError> {
        let started = Instant::now();
        let commands = self.read(batch);
        // Before the transaction: loading may read the events partition, which would stop at
        // this transaction's first record.
        for command in commands.iter().flatten().flatten() {
            self.load(topics, command.order_id)?;
        }
        for item in batch {
            if let Item::Deadline(order_id) = item {
                self.load(topics, *order_id)?;
            }
        }
        // What earlier transactions of this writer delivered (a takeover's aborts) is not
        // this one's to check.
        self.writer.producer.take_delivered();
        self.writer.begin()?;
        record_waits(batch);
        // One span per command, open until the transaction ends: its trip through it.
        let mut spans = Vec::new();
        for (index, (item, command)) in batch.iter().zip(commands).enumerate() {
            let Some(command) = command else {
                if let Item::Deadline(order_id) = item {
                    self.fire(topics, *order_id, changes)?;
                }
                continue;
            };
            match command {
                Ok(command) => {
                    let command = self.traced(command, item, &mut spans);
                    let result = self.decide(topics, command, changes)?;
                    changes.results.push((index, result));
                }
                Err(unusable) => self.dead_letter(topics, item, &unusable)?,
            }
        }
        self.write_snapshots(topics, changes)?;
        let next_offset = self.write_position(topics, batch, changes)?;
        phase("decide_and_send", started);
        let since = Instant::now();
        self.writer.drain()?;
        phase("deliver", since);
        let written = self.writer.producer.take_delivered();
        let since = Instant::now();
        self.writer.commit(stopping)?;
        phase("commit", since);
        let since = Instant::now();
        self.visibility
            .wait(&written, stopping)
            .map_err(|error| BatchError::NotVisible(error.to_string()))?;
        phase("visible", since);
        if let Some(events) = written.iter().find(|d| d.topic == topics.events) {
            self.events_from = Some(events.last + 1);
        }
        if let Some(letters) = written.iter().find(|d| d.topic == topics.dead_letter) {
            self.letters_from = Some(letters.last + 1);
        }
        drop(spans);
        metrics::counter!("orderlog_processor_events_total").increment(changes.events as u64);
        Ok(next_offset)
    }

    /// The batch's commands: a commands-topic record is input and is checked
    /// (`untrusted`); a direct command was made by this process's HTTP tier. (A deadline
    /// is no command: `None`.)
    fn read(&self, batch: &[Item]) -> Vec<Option<Result<CommandEnvelope, Unusable>>> {
        batch
            .iter()
            .map(|item| match item {
                Item::Fetched(message) => Some(untrusted::command(message, self.partitions)),
                Item::Direct(direct) => Some(Ok(direct.command.clone())),
                Item::Deadline(_) => None,
            })
            .collect()
    }

    /// An unusable record goes to the dead-letter topic, with its reason and origin.
    fn dead_letter(
        &self,
        topics: &TopicSet,
        item: &Item,
        unusable: &Unusable,
    ) -> Result<(), BatchError> {
        let Item::Fetched(message) = item else {
            return Ok(());
        };
        if self.lettered.contains(&message.offset()) {
            tracing::warn!(partition = self.partition, offset = message.offset(), reason = %unusable, "command dead-lettered already; passed");
            metrics::counter!("orderlog_processor_letters_found_written_total").increment(1);
            return Ok(());
        }
        tracing::warn!(partition = self.partition, offset = message.offset(), reason = %unusable, "command dead-lettered");
        let (key, value, headers) = untrusted::dead_letter(message, unusable);
        self.writer.send(
            Written::DeadLetter.topic(topics),
            key.as_deref(),
            value.as_deref().unwrap_or_default(),
            Some(headers),
            None,
        )?;
        metrics::counter!("orderlog_processor_dead_letters_total", "reason" => unusable.label())
            .increment(1);
        Ok(())
    }

    /// When traces are exported, opens the command's span (a child of its caller's) and
    /// makes it the parent its events carry onwards, to the projectors.
    fn traced(
        &self,
        mut command: CommandEnvelope,
        item: &Item,
        spans: &mut Vec<tracing::Span>,
    ) -> CommandEnvelope {
        if !telemetry::trace::enabled() {
            return command;
        }
        let span = tracing::info_span!(
            "process command",
            otel.kind = "consumer",
            partition = self.partition,
            offset = tracing::field::Empty,
            direct = item.offset().is_none(),
            command_id = %command.command_id,
            order_id = %command.order_id,
        );
        if let Some(offset) = item.offset() {
            span.record("offset", offset);
        }
        telemetry::trace::set_parent(&span, command.traceparent.as_deref());
        command.traceparent = telemetry::trace::traceparent(&span).or(command.traceparent);
        spans.push(span);
        command
    }

    /// Decides one command against its order: the events and the result, sent.
    fn decide(
        &mut self,
        topics: &TopicSet,
        command: CommandEnvelope,
        changes: &mut Changes,
    ) -> Result<CommandResult, BatchError> {
        changes
            .backup
            .entry(command.order_id)
            .or_insert_with(|| self.orders.get(&command.order_id).cloned());
        let Some(slot) = self.orders.get_or_default(command.order_id) else {
            return Err(self
                .writer
                .abandon(format!("order {} not loaded", command.order_id)));
        };
        let handled = match slot.handle(&command, Utc::now(), &self.policy) {
            Ok(handled) => handled,
            Err(error) => {
                // The stored state cannot take its own decision: a bug, never the caller's fault.
                tracing::error!(order_id = %command.order_id, %error, "decided event does not evolve");
                return Err(self.writer.abandon(error.to_string()));
            }
        };
        if slot.state.order().is_none() {
            // Commands on orders that do not exist leave nothing behind (no memory to grow).
            self.orders.remove(&command.order_id);
        }
        self.send_events(topics, &handled.events, changes)?;
        let result = CommandResult {
            command_id: command.command_id,
            order_id: command.order_id,
            fingerprint: command.fingerprint,
            processed_at: Utc::now(),
            outcome: handled.outcome,
        };
        self.writer.send(
            Written::Results.topic(topics),
            Some(command.order_id.to_string().as_bytes()),
            &serde_json::to_vec(&result).unwrap_or_default(),
            None,
            None,
        )?;
        metrics::counter!("orderlog_processor_commands_total", "outcome" => outcome_label(&result))
            .increment(1);
        Ok(result)
    }

    /// Sends decided events to the events topic.
    pub(super) fn send_events(
        &self,
        topics: &TopicSet,
        events: &[schemas::EventEnvelope],
        changes: &mut Changes,
    ) -> Result<(), BatchError> {
        for event in events {
            let record = cloudevents::encode(event);
            // The record's timestamp is the event's time, so Kafka's time index (and
            // offsets-for-times, which analysts' replays use) is an index of event time.
            self.writer.send(
                Written::Events.topic(topics),
                Some(record.key.as_bytes()),
                &record.value,
                Some(wire::headers(&record)),
                Some(event.occurred_at.timestamp_millis()),
            )?;
            changes.events += 1;
        }
        Ok(())
    }

    /// The snapshot of every order the batch touched (that still exists), and of those a
    /// takeover caught up, each naming the events offset the state is complete up to.
    fn write_snapshots(&self, topics: &TopicSet, changes: &mut Changes) -> Result<(), BatchError> {
        let touched: HashSet<OrderId> = changes.backup.keys().chain(&self.stale).copied().collect();
        let marks = self.marks(changes.events);
        for order_id in touched {
            let key = order_id.to_string();
            if let Some(slot) = self.orders.get(&order_id) {
                let (value, headers) = snapshots::encode(slot);
                self.writer.send(
                    Written::Snapshots.topic(topics),
                    Some(key.as_bytes()),
                    &value,
                    Some(marks.add_to(headers)),
                    None,
                )?;
                changes.snapshots.push((order_id, value));
            } else if self.stale.contains(&order_id) && !self.orders.contains(&order_id) {
                // Set aside and created by that transaction: the order has no snapshot.
                self.writer.send(
                    Written::Snapshots.topic(topics),
                    Some(key.as_bytes()),
                    &[],
                    Some(marks.add_to(snapshots::headers())),
                    None,
                )?;
            }
        }
        Ok(())
    }

    /// The position travels with the snapshots it describes: whoever rebuilds the partition
    /// from them resumes the commands topic exactly after this batch. A batch of direct
    /// commands only consumed nothing there and leaves the position alone. (Sending the
    /// offset to the consumer group instead, `send_offsets_to_transaction`, costs two more
    /// requests and a fourth partition per transaction; docs/performance.md.)
    fn write_position(
        &self,
        topics: &TopicSet,
        batch: &[Item],
        changes: &Changes,
    ) -> Result<Option<i64>, BatchError> {
        let consumed = batch
            .iter()
            .filter_map(Item::offset)
            .max()
            .map(|last| last + 1);
        let Some(next_offset) = consumed.or(self.rewrite_position) else {
            return Ok(None);
        };
        let position = serde_json::to_vec(&Position {
            next_offset,
            screened: self.screened,
        })
        .unwrap_or_default();
        self.writer.send(
            Written::Snapshots.topic(topics),
            Some(POSITION_KEY),
            &position,
            Some(self.marks(changes.events).add_to(OwnedHeaders::new())),
            None,
        )?;
        Ok(consumed)
    }

    /// What this transaction's snapshot records say about it (`store::marks`).
    fn marks(&self, events: usize) -> Marks {
        Marks {
            events_from: self.events_from,
            txn: Some(self.txn),
            txn_events: Some(events as i64),
            letters_from: self.letters_from,
        }
    }

    /// Committed: the answers go out, and the orders return to the bytes just committed
    /// (a parsed slot is several times their size).
    ///
    /// What an answer promises: the transaction is committed and read_committed readers
    /// see it on every partition it wrote (`visible`; docs/api.md).
    fn committed(&mut self, batch: Vec<Item>, changes: Changes) {
        let mut items: Vec<Option<Item>> = batch.into_iter().map(Some).collect();
        for (index, result) in changes.results {
            if let Some(answers) = &self.answers {
                answers.answer(&result, Path::InProcess);
            }
            if let Some(Some(Item::Direct(direct))) = items.get_mut(index).map(Option::take) {
                // A request that gave up meanwhile is no longer listening: nothing to do.
                let Direct { reply, .. } = *direct;
                let _ = reply.send(result);
            }
        }
        for (order_id, value) in changes.snapshots {
            self.orders.settle(order_id, value);
        }
        self.deadlines_committed(&changes.fired);
        self.stale.clear();
        self.rewrite_position = None;
    }

    /// Failed: the orders as they were before the batch.
    fn restore(&mut self, backup: HashMap<OrderId, Option<OrderSlot>>) {
        for (order_id, slot) in backup {
            match slot {
                Some(slot) => self.orders.insert(order_id, slot),
                None => self.orders.remove(&order_id),
            }
        }
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
}

/// How long each command waited for its transaction: a fetched one since its record's
/// timestamp, a direct one since it was handed over.
fn record_waits(batch: &[Item]) {
    for item in batch {
        match item {
            Item::Fetched(message) => crate::stages::since("to_transaction", message.timestamp()),
            Item::Direct(direct) => crate::stages::record(
                "handed_to_transaction",
                direct.handed.elapsed().as_secs_f64(),
            ),
            Item::Deadline(_) => {}
        }
    }
}

fn phase(name: &'static str, since: Instant) {
    metrics::histogram!("orderlog_processor_transaction_phase_seconds", "phase" => name)
        .record(since.elapsed().as_secs_f64());
}

fn outcome_label(result: &CommandResult) -> &'static str {
    match &result.outcome {
        schemas::CommandOutcome::Accepted { .. } => "accepted",
        schemas::CommandOutcome::Rejected { .. } => "rejected",
        schemas::CommandOutcome::IdempotencyKeyReused => "idempotency_key_reused",
    }
}
