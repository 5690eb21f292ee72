//! Taking partitions over: fencing the previous writer, settling what it left open,
//! rebuilding the orders and the position, starting the partition's thread; and taking a
//! partition over afresh after its batch failed.
//!
//! A takeover runs on a thread of its own (it can wait out a broker outage), while the
//! consumer thread keeps serving the other partitions; the partition is paused until its
//! lane starts. A partition that is no longer assigned is never taken over: initialising
//! its writer would fence its new owner. A takeover revoked while it runs is cancelled, but
//! it may be blocked in a call to the cluster (its writer's initialisation, stalled at the
//! coordinator): the partition is not taken over again here until that thread has ended,
//! so one process never runs two writers of one transactional id. A writer fenced all the
//! same (a request that reached the coordinator late) starts its takeover over.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_store::{Backoff, KafkaConfig, TopicSet};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::answers::Answers;
use crate::processor::error::ProcessorError;
use crate::processor::lanes::lane::{Failure, Lane, Pacing};
use crate::processor::lanes::stream_time::CommandsClock;
use crate::processor::recovery::rebalance::ProcessorStatus;
use crate::processor::recovery::rebalance::{Change, RebalanceContext};
use crate::processor::recovery::rebuild;
use crate::processor::settings::ProcessorSettings;
use crate::processor::store::marks::Marks;
use crate::processor::transaction::partition::PartitionWorker;
use crate::processor::transaction::producer::{BatchError, Writer, new_producer};
use crate::processor::transaction::settle;
use crate::processor::transaction::visible::Visibility;

/// What a takeover thread hands back: the partition's worker and where its commands resume.
type Prepared = Result<(PartitionWorker, Option<i64>), ProcessorError>;

struct Pending {
    thread: JoinHandle<Prepared>,
    cancel: Arc<AtomicBool>,
    /// Where to resume when the log records no position (the first offset of a failed batch).
    fallback: Option<i64>,
}

/// Takeovers in progress and what starting a lane needs, owned by the consumer thread.
pub(crate) struct Takeover<'a> {
    pub(crate) kafka: &'a KafkaConfig,
    pub(crate) topics: &'a TopicSet,
    pub(crate) settings: &'a ProcessorSettings,
    pub(crate) consumer: &'a BaseConsumer<RebalanceContext>,
    pub(crate) failures: &'a mpsc::Sender<Failure>,
    pending: HashMap<i32, Pending>,
    /// Takeovers revoked while they ran: cancelled, still running until they notice.
    retiring: HashMap<i32, JoinHandle<Prepared>>,
    /// Partitions assigned again while their revoked takeover still runs, with their
    /// fallback: taken over once it has ended.
    deferred: HashMap<i32, Option<i64>>,
}

impl<'a> Takeover<'a> {
    pub(crate) fn new(
        kafka: &'a KafkaConfig,
        topics: &'a TopicSet,
        settings: &'a ProcessorSettings,
        consumer: &'a BaseConsumer<RebalanceContext>,
        failures: &'a mpsc::Sender<Failure>,
    ) -> Self {
        Self {
            kafka,
            topics,
            settings,
            consumer,
            failures,
            pending: HashMap::new(),
            retiring: HashMap::new(),
            deferred: HashMap::new(),
        }
    }

    /// The partitions the group assigns this processor now.
    fn assigned(&self) -> HashSet<i32> {
        self.consumer
            .assignment()
            .map(|list| list.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    }

    fn pause(&self, partition: i32, pause: bool) {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topics.commands, partition);
        let done = if pause {
            self.consumer.pause(&list)
        } else {
            self.consumer.resume(&list)
        };
        if let Err(error) = done {
            tracing::debug!(partition, %error, pause, "pausing or resuming the partition");
        }
    }

    /// After a batch failed for good: a bug stops the processor; otherwise a partition still
    /// assigned here is taken over afresh (fenced or not: a zombie that fenced the rightful
    /// owner is fenced back), and one that is not is left to its owner.
    pub(crate) fn recover(&mut self, failure: Failure) -> Result<(), ProcessorError> {
        let Failure {
            partition,
            first_offset,
            error,
        } = failure;
        self.consumer.context().stop_lanes(&[partition]);
        if let BatchError::Corrupt(reason) = &error {
            return Err(ProcessorError::Batch {
                partition,
                error: reason.clone(),
            });
        }
        if !self.assigned().contains(&partition) {
            tracing::info!(partition, %error, "batch failed on a partition no longer assigned here; leaving it to its owner");
            return Ok(());
        }
        tracing::warn!(partition, %error, "taking the partition over afresh");
        metrics::counter!("orderlog_processor_recoveries_total").increment(1);
        self.begin(partition, first_offset);
        Ok(())
    }

    /// Starts taking `partition` over on a thread of its own, unless that is under way, or
    /// once a revoked takeover of it has ended.
    fn begin(&mut self, partition: i32, fallback: Option<i64>) {
        self.pause(partition, true);
        if self.pending.contains_key(&partition) {
            return;
        }
        if self.retiring.contains_key(&partition) {
            tracing::info!(
                partition,
                "a revoked takeover of the partition is still running; taking it over when it ends"
            );
            self.deferred.insert(partition, fallback);
            return;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let (kafka, topics, partitions) = (
            self.kafka.clone(),
            self.topics.clone(),
            self.settings.partitions,
        );
        let spawned = std::thread::Builder::new()
            .name(format!("takeover-{partition}"))
            .spawn({
                let cancel = cancel.clone();
                let settings = PartitionSettings {
                    group: self.settings.group_id.clone(),
                    partitions,
                    answers: self.settings.answers.clone(),
                    policy: self.settings.policy,
                };
                move || prepare_partition(&kafka, &topics, partition, &settings, &cancel)
            });
        match spawned {
            Ok(thread) => {
                self.pending.insert(
                    partition,
                    Pending {
                        thread,
                        cancel,
                        fallback,
                    },
                );
            }
            Err(error) => {
                tracing::error!(partition, %error, "cannot start a takeover thread; retrying at the next rebalance")
            }
        }
    }

    /// Applies the rebalances recorded since the last call (revoked partitions' threads
    /// were stopped inside the callback), starts the lanes of finished takeovers, and
    /// publishes what is assigned and served.
    pub(crate) fn apply_rebalances(
        &mut self,
        status: &ProcessorStatus,
    ) -> Result<(), ProcessorError> {
        for change in self.consumer.context().take_changes() {
            match change {
                Change::Revoked(partitions) => {
                    for partition in partitions {
                        self.deferred.remove(&partition);
                        if let Some(pending) = self.pending.remove(&partition) {
                            pending.cancel.store(true, Ordering::SeqCst);
                            self.retiring.insert(partition, pending.thread);
                        }
                    }
                }
                Change::Assigned(partitions) => {
                    tracing::info!(
                        ?partitions,
                        "partitions assigned; fencing previous writers and rebuilding"
                    );
                    for partition in partitions {
                        self.begin(partition, None);
                    }
                }
            }
        }
        self.reap_retired()?;
        let finished: Vec<i32> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.thread.is_finished())
            .map(|(&partition, _)| partition)
            .collect();
        for partition in finished {
            let Some(pending) = self.pending.remove(&partition) else {
                continue;
            };
            let prepared = pending
                .thread
                .join()
                .unwrap_or(Err(ProcessorError::Panicked));
            match prepared {
                Ok((worker, next_offset)) if self.assigned().contains(&partition) => {
                    match self.start_lane(worker, next_offset.or(pending.fallback)) {
                        Ok(()) => self.pause(partition, false),
                        // Not served without its consumer at the position: taken over again.
                        Err(error) => {
                            tracing::warn!(partition, %error, "starting the partition failed; taking it over again");
                            self.begin(partition, pending.fallback);
                        }
                    }
                }
                Ok(_) => tracing::info!(partition, "taken over after it was revoked; dropped"),
                Err(ProcessorError::Cancelled) => {}
                Err(error) => return Err(error),
            }
        }
        let served: Vec<i32> = self.consumer.context().lanes().keys().copied().collect();
        let mut assigned: Vec<i32> = self.assigned().into_iter().collect();
        assigned.sort_unstable();
        status.set_partitions(assigned, served);
        Ok(())
    }

    /// Joins the revoked takeovers that have ended, and takes over the partitions that were
    /// assigned again meanwhile.
    fn reap_retired(&mut self) -> Result<(), ProcessorError> {
        let ended: Vec<i32> = self
            .retiring
            .iter()
            .filter(|(_, thread)| thread.is_finished())
            .map(|(&partition, _)| partition)
            .collect();
        for partition in ended {
            let Some(thread) = self.retiring.remove(&partition) else {
                continue;
            };
            // A worker it prepared all the same is dropped here, and its writer with it.
            match thread.join() {
                Ok(Ok(_) | Err(ProcessorError::Cancelled)) => {}
                Ok(Err(error)) => {
                    tracing::info!(partition, %error, "a revoked takeover ended with an error");
                }
                Err(_) => return Err(ProcessorError::Panicked),
            }
            if let Some(fallback) = self.deferred.remove(&partition)
                && self.assigned().contains(&partition)
            {
                self.begin(partition, fallback);
            }
        }
        Ok(())
    }

    /// Positions the partition's consumer where its state ends and starts the partition's
    /// thread. `None` keeps the consumer group's committed offset.
    fn start_lane(
        &self,
        worker: PartitionWorker,
        next_offset: Option<i64>,
    ) -> Result<(), ProcessorError> {
        let partition = worker.partition;
        if let Some(offset) = next_offset {
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(&self.topics.commands, partition, Offset::Offset(offset))?;
            // Asynchronous: a blocking seek on a partition assigned a moment ago waited up to
            // a second. What the consumer fetched from its earlier position never reaches a
            // transaction: the lane skips offsets below the position.
            self.consumer.seek_partitions(list, Duration::ZERO)?;
        }
        let lane = Lane::spawn(
            worker,
            next_offset,
            self.topics.clone(),
            Pacing {
                batch_max: self.settings.batch_max,
                interval: self.settings.transaction_interval,
            },
            self.failures.clone(),
            self.settings.owners.as_ref(),
        )
        .map_err(|e| ProcessorError::Batch {
            partition,
            error: e.to_string(),
        })?;
        if let Some(previous) = self.consumer.context().lanes().insert(partition, lane) {
            previous.stop();
        }
        Ok(())
    }

    /// Cancels the takeovers in flight (at shutdown).
    pub(crate) fn cancel_all(&mut self) {
        for (_, pending) in self.pending.drain() {
            pending.cancel.store(true, Ordering::SeqCst);
        }
    }
}

/// What a partition's worker is given beside its partition.
pub(crate) struct PartitionSettings {
    /// The processors' consumer group.
    pub(crate) group: String,
    /// The topics' partition count.
    pub(crate) partitions: i32,
    pub(crate) answers: Option<Answers>,
    pub(crate) policy: schemas::order::Policy,
}

/// Fences the partition's previous writer, settles the partition, and rebuilds its orders
/// and position, waiting out whatever a restarting or unreachable cluster makes fail, for
/// as long as it lasts, unless cancelled (the partition was revoked meanwhile).
pub(crate) fn prepare_partition(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    settings: &PartitionSettings,
    cancel: &AtomicBool,
) -> Prepared {
    let PartitionSettings {
        group,
        partitions,
        answers,
        policy,
    } = settings;
    let (partitions, policy) = (*partitions, *policy);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let started = Instant::now();
    loop {
        if cancel.load(Ordering::SeqCst) {
            return Err(ProcessorError::Cancelled);
        }
        // Checked again between the steps: a takeover revoked meanwhile writes nothing more.
        let go_on = || match cancel.load(Ordering::SeqCst) {
            true => Err(ProcessorError::Cancelled),
            false => Ok(()),
        };
        let attempt = new_producer(kafka, topics, partition)
            .map_err(ProcessorError::from)
            .and_then(|producer| {
                go_on()?;
                settle::settle(kafka, topics, partition, &producer)?;
                go_on()?;
                let mut rebuilt = rebuild::rebuild(kafka, topics, partition)
                    .map_err(|error| ProcessorError::Rebuild { partition, error })?;
                go_on()?;
                let screened = rebuilt.screen.screened();
                let letters = rebuilt.screen.take_letters();
                // The dead letters' transaction records how far the partition was screened
                // with a position: without one yet (commands only handed over directly,
                // or none at all), the commands resume where the group says.
                let next_offset = match rebuilt.next_offset {
                    None if !letters.is_empty() => {
                        Some(group_position(kafka, group, &topics.commands, partition)?)
                    }
                    known => known,
                };
                let marks = Marks {
                    events_from: rebuilt.events_from,
                    letters_from: rebuilt.letters_from,
                    ..Marks::default()
                };
                settle::dead_letter(
                    topics,
                    partition,
                    &producer,
                    letters,
                    next_offset,
                    screened,
                    marks,
                )?;
                // Commands waiting past where this owner resumes: deadlines wait for them.
                let consumer: BaseConsumer = kafka.read_committed_consumer(group).create()?;
                let backlog_end =
                    commands_backlog(&consumer, &topics.commands, partition, next_offset)?;
                let commands_clock =
                    CommandsClock::at_takeover(consumer, &topics.commands, partition, backlog_end);
                let worker = PartitionWorker {
                    partition,
                    partitions,
                    writer: Writer {
                        producer,
                        partition,
                    },
                    orders: rebuilt.orders,
                    kafka: kafka.clone(),
                    screened,
                    answers: answers.clone(),
                    policy,
                    commands_clock,
                    visibility: Visibility::new(kafka, topics, partition)?,
                    events_from: rebuilt.events_from,
                    stale: rebuilt.stale,
                    rewrite_position: next_offset.filter(|_| rebuilt.rewrite_position),
                    txn: rebuilt.txn,
                    letters_from: rebuilt.letters_from,
                    lettered: rebuilt.lettered,
                };
                Ok((worker, next_offset))
            });
        match attempt {
            // Revoked meanwhile: the failure was its owner's doing or is no longer ours.
            Err(_) if cancel.load(Ordering::SeqCst) => return Err(ProcessorError::Cancelled),
            Err(error) if error.is_transient() || error.is_fenced() => {
                let delay = backoff.next_delay();
                tracing::warn!(partition, %error, retry_in_ms = delay.as_millis() as u64, waited_s = started.elapsed().as_secs(), "taking over the partition failed; retrying");
                std::thread::sleep(delay);
            }
            other => return other,
        }
    }
}

/// Where the partition's commands resume when no transaction recorded a position: the
/// consumer group's committed offset, else the partition's beginning (the processors'
/// `auto.offset.reset`).
fn group_position(
    kafka: &KafkaConfig,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<i64, ProcessorError> {
    let consumer: BaseConsumer = kafka.read_committed_consumer(group).create()?;
    match committed_offset(&consumer, topic, partition)? {
        Some(offset) => Ok(offset),
        None => {
            Ok(event_store::watermarks(&consumer, topic, partition, Duration::from_secs(10))?.0)
        }
    }
}

/// The consumer group's committed offset of the partition, if it has one.
fn committed_offset(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, ProcessorError> {
    let mut asked = TopicPartitionList::new();
    asked.add_partition(topic, partition);
    let committed = consumer.committed_offsets(asked, Duration::from_secs(10))?;
    Ok(
        match committed
            .find_partition(topic, partition)
            .map(|element| element.offset())
        {
            Some(Offset::Offset(offset)) => Some(offset),
            _ => None,
        },
    )
}

/// Where the commands partition ends now (its high watermark), when commands wait there
/// past where this owner resumes (`next_offset`, or the group's position): one consumer
/// asks both.
fn commands_backlog(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    next_offset: Option<i64>,
) -> Result<Option<i64>, ProcessorError> {
    let (low, end) = event_store::watermarks(consumer, topic, partition, Duration::from_secs(10))?;
    let resume_at = match next_offset {
        Some(offset) => offset,
        None => committed_offset(consumer, topic, partition)?.unwrap_or(low),
    };
    Ok((end > resume_at).then_some(end))
}
