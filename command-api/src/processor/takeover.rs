//! Taking partitions over: fencing the previous writer, rebuilding the orders and the
//! position, starting the partition's thread; and recovering a partition whose batch failed
//! for good.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::lane::{Failure, Lane, Pacing};
use super::partition::{BatchError, PartitionWorker, new_producer};
use super::rebalance::{Change, RebalanceContext};
use super::{ProcessorError, ProcessorSettings, ProcessorStatus, rebuild};

/// What taking a partition over needs, all owned by the consumer thread.
pub(super) struct Takeover<'a> {
    pub(super) kafka: &'a KafkaConfig,
    pub(super) topics: &'a TopicSet,
    pub(super) settings: &'a ProcessorSettings,
    pub(super) consumer: &'a BaseConsumer<RebalanceContext>,
    pub(super) failures: &'a mpsc::Sender<Failure>,
}

impl Takeover<'_> {
    /// After a batch failed for good: a fenced writer gives the partition up; another fatal
    /// error replaces the producer, rebuilds, and rewinds, so the batch is consumed again.
    pub(super) fn recover(&self, failure: Failure) -> Result<(), ProcessorError> {
        let Takeover {
            kafka,
            topics,
            consumer,
            ..
        } = *self;
        let Failure {
            partition,
            first_offset,
            error,
        } = failure;
        consumer.context().stop_lanes(&[partition]);
        if let BatchError::Corrupt(reason) = &error {
            return Err(ProcessorError::Batch {
                partition,
                error: reason.clone(),
            });
        }
        if error.is_fenced() {
            tracing::warn!(partition, "fenced by a newer owner; dropping the partition");
            return Ok(());
        }
        tracing::warn!(partition, %error, "replacing the producer and rewinding the partition");
        let (worker, next_offset) = prepare_partition(kafka, topics, partition)?;
        // The intake may have paused it while the failed lane was behind.
        let mut list = TopicPartitionList::new();
        list.add_partition(&topics.commands, partition);
        consumer.resume(&list)?;
        // The rebuilt position is the truth (a commit whose outcome was unknown may have
        // succeeded); without one, the failed batch is the first thing not committed.
        self.start_lane(worker, Some(next_offset.unwrap_or(first_offset)))
    }

    /// Positions the partition's consumer where its state ends and starts the partition's
    /// thread. `None` keeps the consumer group's committed offset.
    fn start_lane(
        &self,
        worker: PartitionWorker,
        next_offset: Option<i64>,
    ) -> Result<(), ProcessorError> {
        let Takeover {
            topics,
            settings,
            consumer,
            failures,
            ..
        } = *self;
        let partition = worker.partition;
        let mut list = TopicPartitionList::new();
        list.add_partition(&topics.commands, partition);
        if let Some(offset) = next_offset {
            list.set_partition_offset(&topics.commands, partition, Offset::Offset(offset))?;
            // Asynchronous: a blocking seek on a partition assigned a moment ago waited up to
            // a second. What the consumer fetched from its earlier position never reaches a
            // transaction: the lane skips offsets below the position.
            consumer.seek_partitions(list.clone(), Duration::ZERO)?;
        }
        let lane = Lane::spawn(
            worker,
            next_offset,
            topics.clone(),
            Pacing {
                batch_max: settings.batch_max,
                interval: settings.transaction_interval,
            },
            failures.clone(),
        )
        .map_err(|e| ProcessorError::Batch {
            partition,
            error: e.to_string(),
        })?;
        consumer.context().lanes().insert(partition, lane);
        Ok(())
    }

    /// Starts threads for newly assigned partitions: fence the previous writer, then rebuild
    /// the partition's orders (in parallel across partitions). Revoked partitions' threads
    /// were stopped inside the rebalance callback.
    pub(super) fn apply_rebalances(&self, status: &ProcessorStatus) -> Result<(), ProcessorError> {
        let Takeover {
            kafka,
            topics,
            consumer,
            ..
        } = *self;
        let mut assigned = Vec::new();
        for change in consumer.context().take_changes() {
            match change {
                Change::Revoked(partitions) => assigned.retain(|p| !partitions.contains(p)),
                Change::Assigned(partitions) => assigned.extend(partitions),
            }
        }
        if !assigned.is_empty() {
            tracing::info!(
                ?assigned,
                "partitions assigned; fencing previous writers and rebuilding"
            );
            let prepared: Vec<Result<(PartitionWorker, Option<i64>), ProcessorError>> =
                std::thread::scope(|scope| {
                    let handles: Vec<_> = assigned
                        .iter()
                        .map(|&partition| {
                            scope.spawn(move || prepare_partition(kafka, topics, partition))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or(Err(ProcessorError::Panicked)))
                        .collect()
                });
            for prepared in prepared {
                let (worker, next_offset) = prepared?;
                self.start_lane(worker, next_offset)?;
            }
        }
        status.set_partitions(consumer.context().lanes().keys().copied().collect());
        Ok(())
    }
}

/// How long taking over a partition may keep failing on transient errors (a coordinator
/// still loading, a broker restarting) before the processor gives up and exits.
const PREPARE_PATIENCE: Duration = Duration::from_secs(120);

/// Fences the partition's previous writer and rebuilds its orders and position, retrying
/// what a busy or freshly started cluster makes fail for a while.
fn prepare_partition(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<(PartitionWorker, Option<i64>), ProcessorError> {
    let deadline = Instant::now() + PREPARE_PATIENCE;
    let mut backoff = Duration::from_millis(200);
    loop {
        let attempt = new_producer(kafka, topics, partition)
            .map_err(ProcessorError::from)
            .and_then(|producer| {
                let rebuilt = rebuild::rebuild(kafka, topics, partition)
                    .map_err(|error| ProcessorError::Rebuild { partition, error })?;
                let worker = PartitionWorker {
                    partition,
                    producer,
                    orders: rebuilt.orders,
                    kafka: kafka.clone(),
                };
                Ok((worker, rebuilt.next_offset))
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
