//! One owned partition's thread: it takes the commands the consumer thread hands it (and
//! those the HTTP tier hands it directly, `direct`) and runs one transaction after another.
//! While a transaction commits, the next batch forms in the inbox; it starts when the
//! commit returns, whatever the other partitions are doing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use event_store::TopicSet;
use rdkafka::message::OwnedMessage;

use crate::processor::lanes::direct::Owners;
use crate::processor::transaction::input::{Input, Item};
use crate::processor::transaction::partition::PartitionWorker;
use crate::processor::transaction::producer::BatchError;

/// A batch that failed for good; the consumer thread recovers the partition from it.
pub(crate) struct Failure {
    pub(crate) partition: i32,
    /// The first commands-topic offset of the failed batch (or, when it held only direct
    /// commands, the position before it). Its transaction was aborted, or its commit ended
    /// with an outcome unknown here (it may have committed): so this is only where to
    /// resume when the log records no position; a position the log records wins, and it
    /// includes this batch if it committed.
    pub(crate) first_offset: Option<i64>,
    pub(crate) error: BatchError,
}

/// The consumer thread's handle on a partition's thread.
pub(crate) struct Lane {
    partition: i32,
    sender: Option<Sender<Input>>,
    /// Where this process's HTTP tier finds the lane, and the lane's entry there.
    registered: Option<(Owners, u64)>,
    queued: Arc<AtomicUsize>,
    /// The position the last committed transaction wrote (-1 before the first).
    committed: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Lane {
    /// `floor`: the partition's recorded position; commands below it are already in the
    /// state and are never processed again, whatever the consumer delivers.
    pub(crate) fn spawn(
        worker: PartitionWorker,
        floor: Option<i64>,
        topics: TopicSet,
        pacing: Pacing,
        failures: Sender<Failure>,
        owners: Option<&Owners>,
    ) -> std::io::Result<Self> {
        let partition = worker.partition;
        let (sender, receiver) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let committed = Arc::new(AtomicI64::new(-1));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(format!("partition-{partition}"))
            .spawn({
                let (queued, committed, stop) = (queued.clone(), committed.clone(), stop.clone());
                move || {
                    let inbox = Inbox {
                        receiver,
                        queued,
                        pending: VecDeque::new(),
                        floor: floor.unwrap_or(i64::MIN),
                    };
                    let lane = LaneThread {
                        topics,
                        pacing,
                        committed,
                        failures,
                    };
                    lane.run(worker, inbox, &stop);
                }
            })?;
        let registered =
            owners.map(|owners| (owners.clone(), owners.register(partition, sender.clone())));
        Ok(Self {
            partition,
            sender: Some(sender),
            registered,
            queued,
            committed,
            stop,
            thread: Some(thread),
        })
    }

    /// Hands commands over; `false` when the thread has ended (after a failure).
    pub(crate) fn send(&self, messages: Vec<OwnedMessage>) -> bool {
        let count = messages.len();
        self.queued.fetch_add(count, Ordering::SeqCst);
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|s| s.send(Input::Fetched(messages)).is_ok());
        if !sent {
            self.queued.fetch_sub(count, Ordering::SeqCst);
        }
        sent
    }

    /// Commands handed over and not yet taken into a transaction.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// The next commands offset, as of the last committed transaction.
    pub(crate) fn committed(&self) -> Option<i64> {
        Some(self.committed.load(Ordering::SeqCst)).filter(|&offset| offset >= 0)
    }

    /// Lets the transaction in flight finish, drops what is queued (direct commands among
    /// it get no answer, and are sent again by their requests), and waits for the thread.
    pub(crate) fn stop(mut self) {
        self.leave();
        self.stop.store(true, Ordering::SeqCst);
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(partition = self.partition, "partition thread panicked");
            }
        }
    }
}

impl Lane {
    /// No more direct commands: the HTTP tier sends them elsewhere from now on.
    fn leave(&mut self) {
        if let Some((owners, id)) = self.registered.take() {
            owners.unregister(self.partition, id);
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.leave();
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What the consumer thread handed over and the lane has not processed yet.
struct Inbox {
    receiver: Receiver<Input>,
    /// Fetched commands handed over and not yet in a batch (the consumer thread pauses the
    /// partition above a high-water mark; direct commands are bounded by the HTTP tier).
    queued: Arc<AtomicUsize>,
    pending: VecDeque<Item>,
    /// The lowest offset still to process: the last committed position. Commands below it
    /// can reach the lane when the consumer started fetching before it was repositioned.
    floor: i64,
}

impl Inbox {
    /// Takes what has arrived without waiting; how many commands are pending then.
    fn gather(&mut self) -> usize {
        while let Ok(input) = self.receiver.try_recv() {
            self.push(input);
        }
        self.pending.len()
    }

    fn push(&mut self, input: Input) {
        match input {
            Input::Fetched(messages) => {
                self.pending.extend(messages.into_iter().map(Item::Fetched))
            }
            Input::Direct(direct) => self.pending.push_back(Item::Direct(direct)),
        }
    }

    /// Waits for commands when none are pending; `false` once the channel is closed.
    fn fill(&mut self) -> bool {
        if self.pending.is_empty() {
            match self.receiver.recv() {
                Ok(input) => self.push(input),
                Err(_) => return false,
            }
        }
        self.gather();
        true
    }

    /// The next batch, in arrival order, without any fetched command below the floor
    /// (commands the state already includes, or a second delivery of one after the consumer
    /// was repositioned). The floor then moves past the batch: either its transaction
    /// commits or the lane ends.
    fn take(&mut self, max: usize) -> Vec<Item> {
        let mut batch = Vec::new();
        let (mut fetched, mut skipped) = (0, 0);
        while batch.len() < max {
            let Some(item) = self.pending.pop_front() else {
                break;
            };
            if let Some(offset) = item.offset() {
                fetched += 1;
                if offset < self.floor {
                    skipped += 1;
                    continue;
                }
                self.floor = offset + 1;
            }
            batch.push(item);
        }
        self.queued.fetch_sub(fetched, Ordering::SeqCst);
        if skipped > 0 {
            tracing::debug!(
                skipped,
                floor = self.floor,
                "commands below the partition's position skipped"
            );
        }
        batch
    }
}

/// How a partition's transactions follow each other.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// Most commands in one transaction.
    pub(crate) batch_max: usize,
    /// Least time between the starts of two transactions when the partition is saturated,
    /// unless a full batch waits. Every transaction costs the broker the same whatever its
    /// size, so at saturation transactions back to back with a few commands each spent the
    /// shared cores on transaction overhead. Below that the next transaction starts as soon
    /// as the last one is trusted, with whatever arrived meanwhile (group commit): a timer
    /// there only added latency (issue 31: 300/s p50 18.0 ms with it, 7.4 ms without).
    pub(crate) interval: Duration,
}

/// Commands waiting when a transaction ends from which the partition counts as saturated
/// (then the interval applies). At 1,000 commands/s on 6 partitions a transaction finds
/// 2 or 3 waiting; with 256 clients flat out, dozens.
const SATURATED_AT: usize = 16;

impl Pacing {
    /// How long to wait before the next transaction, with `pending` commands waiting;
    /// `busy`: the partition is saturated (`SATURATED_AT`).
    fn wait(
        &self,
        last_start: Option<std::time::Instant>,
        pending: usize,
        busy: bool,
    ) -> Option<Duration> {
        if !busy {
            return None;
        }
        let since = last_start?.elapsed();
        let wait = self.interval.saturating_sub(since);
        (!wait.is_zero() && pending < self.batch_max).then_some(wait)
    }
}

/// What the partition's thread keeps beside its worker.
struct LaneThread {
    topics: TopicSet,
    pacing: Pacing,
    committed: Arc<AtomicI64>,
    failures: Sender<Failure>,
}

impl LaneThread {
    fn run(&self, mut worker: PartitionWorker, mut inbox: Inbox, stop: &AtomicBool) {
        let mut last_start: Option<std::time::Instant> = None;
        let mut busy = false;
        while inbox.fill() && !stop.load(Ordering::SeqCst) {
            if let Some(wait) = self.pacing.wait(last_start, inbox.pending.len(), busy) {
                std::thread::sleep(wait);
                if !inbox.fill() || stop.load(Ordering::SeqCst) {
                    return;
                }
            }
            last_start = Some(std::time::Instant::now());
            let batch = inbox.take(self.pacing.batch_max);
            if batch.is_empty() {
                continue;
            }
            let first_offset = batch
                .iter()
                .filter_map(Item::offset)
                .min()
                .or_else(|| Some(self.committed.load(Ordering::SeqCst)).filter(|&o| o >= 0));
            match worker.process(&self.topics, batch, stop) {
                Ok(next_offset) => {
                    if let Some(next_offset) = next_offset {
                        self.committed.store(next_offset, Ordering::SeqCst);
                    }
                    // So many arrived while it ran that the partition is saturated?
                    busy = inbox.gather() >= SATURATED_AT;
                }
                // Whatever the failure, the partition is taken over afresh: a new writer
                // (whose epoch fences any record of this one still on its way), the
                // partition settled, the state rebuilt from the log.
                Err(error) => {
                    match &error {
                        BatchError::Aborted(cause) => {
                            tracing::warn!(partition = worker.partition, %cause, "transaction aborted; the partition is taken over afresh");
                            metrics::counter!("orderlog_processor_aborts_total").increment(1);
                        }
                        BatchError::NotVisible(cause) => {
                            tracing::warn!(partition = worker.partition, %cause, "a committed transaction is not visible; nothing answered, the partition is taken over afresh");
                            metrics::counter!("orderlog_processor_commits_not_visible_total")
                                .increment(1);
                        }
                        _ => {}
                    }
                    let _ = self.failures.send(Failure {
                        partition: worker.partition,
                        first_offset,
                        error,
                    });
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;
    use crate::processor::transaction::input::Direct;

    fn message(offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            None,
            None,
            "commands".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    fn fetched(offsets: std::ops::Range<i64>) -> Input {
        Input::Fetched(offsets.map(message).collect())
    }

    fn direct() -> (
        Input,
        tokio::sync::oneshot::Receiver<schemas::CommandResult>,
    ) {
        let (reply, receiver) = tokio::sync::oneshot::channel();
        let command = crate::processor::fixtures::envelope(
            schemas::values::OrderId::generate(),
            crate::processor::fixtures::alice_cancels(),
            None,
        );
        let direct = Direct {
            command,
            reply,
            handed: std::time::Instant::now(),
        };
        (Input::Direct(Box::new(direct)), receiver)
    }

    fn inbox(floor: i64) -> (Sender<Input>, Inbox) {
        let (sender, receiver) = channel();
        let inbox = Inbox {
            receiver,
            queued: Arc::new(AtomicUsize::new(0)),
            pending: VecDeque::new(),
            floor,
        };
        (sender, inbox)
    }

    /// The batch's offsets, `-1` for a direct command.
    fn offsets(batch: &[Item]) -> Vec<i64> {
        batch
            .iter()
            .map(|item| item.offset().unwrap_or(-1))
            .collect()
    }

    #[test]
    fn commands_below_the_position_and_second_deliveries_never_reach_a_batch() {
        let (sender, mut inbox) = inbox(150);
        // Fetched from the group's older offset before the consumer was repositioned...
        sender.send(fetched(100..200)).expect("send");
        // ...and again from the position once it was.
        sender.send(fetched(150..210)).expect("send");
        inbox.queued.store(160, Ordering::SeqCst);
        assert!(inbox.fill());
        let batch = inbox.take(1_000);
        assert_eq!(offsets(&batch), (150..210).collect::<Vec<_>>());
        assert_eq!(inbox.queued.load(Ordering::SeqCst), 0);
        assert_eq!(inbox.floor, 210);
    }

    #[test]
    fn transactions_start_at_once_when_idle_and_no_closer_than_the_interval_otherwise() {
        let pacing = Pacing {
            batch_max: 10,
            interval: Duration::from_millis(500),
        };
        assert_eq!(
            pacing.wait(None, 1, true),
            None,
            "the first transaction starts at once"
        );
        let just_now = Some(std::time::Instant::now());
        let wait = pacing
            .wait(just_now, 1, true)
            .expect("under load, waits after a recent start");
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        assert_eq!(
            pacing.wait(just_now, 1, false),
            None,
            "a command that arrived after the last commit starts at once"
        );
        assert_eq!(
            pacing.wait(just_now, 10, true),
            None,
            "a full batch does not wait"
        );
        let long_ago = std::time::Instant::now().checked_sub(Duration::from_secs(1));
        assert_eq!(
            pacing.wait(long_ago, 1, true),
            None,
            "a partition whose last start is old starts at once"
        );
    }

    #[test]
    fn a_batch_holds_at_most_max_commands_and_the_rest_waits() {
        let (sender, mut inbox) = inbox(i64::MIN);
        sender.send(fetched(0..5)).expect("send");
        inbox.queued.store(5, Ordering::SeqCst);
        assert!(inbox.fill());
        assert_eq!(offsets(&inbox.take(3)), vec![0, 1, 2]);
        assert_eq!(offsets(&inbox.take(3)), vec![3, 4]);
        drop(sender);
        assert!(!inbox.fill(), "a closed channel ends the lane");
    }

    #[test]
    fn direct_commands_join_batches_in_arrival_order_and_never_move_the_floor() {
        let (sender, mut inbox) = inbox(10);
        sender.send(fetched(8..12)).expect("send");
        let (first, mut first_reply) = direct();
        sender.send(first).expect("send");
        sender.send(fetched(12..13)).expect("send");
        inbox.queued.store(5, Ordering::SeqCst);
        assert!(inbox.fill());
        let batch = inbox.take(1_000);
        assert_eq!(offsets(&batch), vec![10, 11, -1, 12]);
        assert_eq!(inbox.floor, 13);
        assert_eq!(
            inbox.queued.load(Ordering::SeqCst),
            0,
            "only fetched commands are counted"
        );

        // A direct command dropped undecided (its batch failed, or the lane stopped) closes
        // its reply at once: its request sends it again rather than waiting for a timeout.
        drop(batch);
        assert!(matches!(
            first_reply.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        ));
        let (only, _reply) = direct();
        sender.send(only).expect("send");
        assert!(inbox.fill());
        let batch = inbox.take(1_000);
        assert_eq!(offsets(&batch), vec![-1]);
        assert_eq!(
            inbox.floor, 13,
            "a batch of direct commands leaves the position alone"
        );
    }
}
