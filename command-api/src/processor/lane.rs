//! One owned partition's thread: it takes the commands the consumer thread hands it and
//! runs one transaction after another, so each partition starts its next batch as soon as
//! its previous one commits, whatever the other partitions are doing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use event_store::TopicSet;
use rdkafka::message::{Message, OwnedMessage};

use super::partition::{BatchError, PartitionWorker};

/// A batch that failed for good; the consumer thread recovers the partition from it.
pub(crate) struct Failure {
    pub(crate) partition: i32,
    /// The first offset of the failed batch. Its transaction was aborted, or its commit
    /// ended with an outcome unknown here (it may have committed): so this is only where to
    /// resume when the log records no position; a position the log records wins, and it
    /// includes this batch if it committed.
    pub(crate) first_offset: i64,
    pub(crate) error: BatchError,
}

/// The consumer thread's handle on a partition's thread.
pub(crate) struct Lane {
    partition: i32,
    sender: Option<Sender<Vec<OwnedMessage>>>,
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
        Ok(Self {
            partition,
            sender: Some(sender),
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
            .is_some_and(|s| s.send(messages).is_ok());
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

    /// Lets the transaction in flight finish, drops what is queued, and waits for the thread.
    pub(crate) fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!(partition = self.partition, "partition thread panicked");
            }
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What the consumer thread handed over and the lane has not processed yet.
struct Inbox {
    receiver: Receiver<Vec<OwnedMessage>>,
    queued: Arc<AtomicUsize>,
    pending: VecDeque<OwnedMessage>,
    /// The lowest offset still to process: the last committed position. Commands below it
    /// can reach the lane when the consumer started fetching before it was repositioned.
    floor: i64,
}

impl Inbox {
    /// Takes what has arrived without waiting; how many commands are pending then.
    fn gather(&mut self) -> usize {
        while let Ok(messages) = self.receiver.try_recv() {
            self.pending.extend(messages);
        }
        self.pending.len()
    }

    /// Waits for commands when none are pending; `false` once the channel is closed.
    fn fill(&mut self) -> bool {
        if self.pending.is_empty() {
            match self.receiver.recv() {
                Ok(messages) => self.pending.extend(messages),
                Err(_) => return false,
            }
        }
        while let Ok(messages) = self.receiver.try_recv() {
            self.pending.extend(messages);
        }
        true
    }

    /// The next batch, in offset order, without anything below the floor (commands the
    /// state already includes, or a second delivery of one after the consumer was
    /// repositioned). The floor then moves past the batch: either its transaction commits
    /// or the lane ends.
    fn take(&mut self, max: usize) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let mut taken = 0;
        while batch.len() < max {
            let Some(message) = self.pending.pop_front() else {
                break;
            };
            taken += 1;
            if message.offset() >= self.floor {
                self.floor = message.offset() + 1;
                batch.push(message);
            }
        }
        self.queued.fetch_sub(taken, Ordering::SeqCst);
        if taken > batch.len() {
            tracing::debug!(
                skipped = taken - batch.len(),
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
    /// Least time between the starts of two transactions under load, unless a full batch
    /// waits. Every transaction costs the broker the same whatever its size, so under load
    /// transactions back to back with a few commands each spent the shared cores on
    /// transaction overhead. A partition is under load when commands arrived while its
    /// last transaction ran; otherwise the next command starts at once (until session 11
    /// it waited out the interval whenever the last start was recent, so a client sending
    /// an order's commands one after the other waited up to 20 ms for each).
    pub(crate) interval: Duration,
}

impl Pacing {
    /// How long to wait before the next transaction, with `pending` commands waiting;
    /// `busy`: some arrived while the last transaction ran.
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
            match worker.process(&self.topics, &batch, stop) {
                Ok(next_offset) => {
                    self.committed.store(next_offset, Ordering::SeqCst);
                    // Commands that arrived while it ran: the partition is under load.
                    busy = inbox.gather() > 0;
                }
                // Whatever the failure, the partition is taken over afresh: a new writer
                // (whose epoch fences any record of this one still on its way), the
                // partition settled, the state rebuilt from the log.
                Err(error) => {
                    if let BatchError::Aborted(cause) = &error {
                        tracing::warn!(partition = worker.partition, %cause, "transaction aborted; the partition is taken over afresh");
                        metrics::counter!("orderlog_processor_aborts_total").increment(1);
                    }
                    let first_offset = batch.iter().map(Message::offset).min().unwrap_or_default();
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

    fn inbox(floor: i64) -> (Sender<Vec<OwnedMessage>>, Inbox) {
        let (sender, receiver) = channel();
        let inbox = Inbox {
            receiver,
            queued: Arc::new(AtomicUsize::new(0)),
            pending: VecDeque::new(),
            floor,
        };
        (sender, inbox)
    }

    fn offsets(batch: &[OwnedMessage]) -> Vec<i64> {
        batch.iter().map(Message::offset).collect()
    }

    #[test]
    fn commands_below_the_position_and_second_deliveries_never_reach_a_batch() {
        let (sender, mut inbox) = inbox(150);
        // Fetched from the group's older offset before the consumer was repositioned...
        sender
            .send((100..200).map(message).collect())
            .expect("send");
        // ...and again from the position once it was.
        sender
            .send((150..210).map(message).collect())
            .expect("send");
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
        sender.send((0..5).map(message).collect()).expect("send");
        inbox.queued.store(5, Ordering::SeqCst);
        assert!(inbox.fill());
        assert_eq!(offsets(&inbox.take(3)), vec![0, 1, 2]);
        assert_eq!(offsets(&inbox.take(3)), vec![3, 4]);
        drop(sender);
        assert!(!inbox.fill(), "a closed channel ends the lane");
    }
}
