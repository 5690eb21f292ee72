//! One owned partition's thread: it takes the commands the consumer thread hands it (and
//! those the HTTP tier hands it directly, `direct`) and runs one transaction after another.
//! While a transaction commits, the next batch forms in the inbox; it starts when the
//! commit returns, whatever the other partitions are doing. Deadlines that came due join a
//! batch once every command handed over is in it (`deadline_items`), and the thread wakes
//! for the next one when nothing else arrives.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_store::TopicSet;
use rdkafka::message::OwnedMessage;

use crate::processor::lanes::deadlines;
use crate::processor::lanes::direct::Owners;
use crate::processor::lanes::inbox::Inbox;
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
                        last_fetched: Instant::now(),
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
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(partition = self.partition, "partition thread panicked");
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
        while inbox.fill(deadlines::wake(&worker)) && !stop.load(Ordering::SeqCst) {
            if let Some(wait) = self.pacing.wait(last_start, inbox.pending.len(), busy) {
                std::thread::sleep(wait);
                if !inbox.fill(None) || stop.load(Ordering::SeqCst) {
                    return;
                }
            }
            last_start = Some(std::time::Instant::now());
            let mut batch = inbox.take(self.pacing.batch_max);
            let room = self.pacing.batch_max.saturating_sub(batch.len());
            batch.extend(deadlines::items(&mut worker, &inbox, room));
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
    use super::*;

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
}
