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
    /// The first offset of the failed batch: nothing from it on was committed.
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
    pub(crate) fn spawn(
        worker: PartitionWorker,
        topics: TopicSet,
        batch_max: usize,
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
                    };
                    let lane = LaneThread {
                        topics,
                        batch_max,
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
}

impl Inbox {
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

    fn take(&mut self, max: usize) -> Vec<OwnedMessage> {
        let n = self.pending.len().min(max);
        self.queued.fetch_sub(n, Ordering::SeqCst);
        self.pending.drain(..n).collect()
    }
}

/// What the partition's thread keeps beside its worker.
struct LaneThread {
    topics: TopicSet,
    batch_max: usize,
    committed: Arc<AtomicI64>,
    failures: Sender<Failure>,
}

impl LaneThread {
    fn run(&self, mut worker: PartitionWorker, mut inbox: Inbox, stop: &AtomicBool) {
        while inbox.fill() && !stop.load(Ordering::SeqCst) {
            let batch = inbox.take(self.batch_max);
            match process_with_retries(&mut worker, &self.topics, &batch) {
                Ok(next_offset) => self.committed.store(next_offset, Ordering::SeqCst),
                Err(error) => {
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

const ABORT_RETRIES: usize = 5;

fn process_with_retries(
    worker: &mut PartitionWorker,
    topics: &TopicSet,
    messages: &[OwnedMessage],
) -> Result<i64, BatchError> {
    let mut attempt = 0;
    loop {
        match worker.process(topics, messages) {
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
