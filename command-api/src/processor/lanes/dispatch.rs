//! The consumer thread's side of the partitions' threads: handing polled commands over,
//! pausing a partition whose thread has fallen behind, and publishing positions.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use crate::processor::recovery::rebalance::RebalanceContext;

/// Hands polled commands to their partitions' threads, and pauses fetching a partition
/// whose thread has fallen behind (so a backlog stays in Kafka, not in memory).
pub(crate) struct Intake {
    /// Queued commands above which a partition is paused; it resumes below a quarter.
    high_water: usize,
    paused: HashSet<i32>,
    published: Instant,
}

/// How often the positions are also committed to the consumer group, for lag tools.
const PUBLISH_EVERY: Duration = Duration::from_secs(5);

impl Intake {
    pub(crate) fn new(batch_max: usize) -> Self {
        Self {
            high_water: batch_max * 4,
            paused: HashSet::new(),
            published: Instant::now(),
        }
    }

    /// Commits the partitions' positions to the consumer group now and then. Only for
    /// the group's lag as tools show it: the truth is the position record each
    /// transaction writes to the snapshots topic.
    pub(crate) fn publish_positions(
        &mut self,
        consumer: &BaseConsumer<RebalanceContext>,
        topic: &str,
    ) {
        if self.published.elapsed() < PUBLISH_EVERY {
            return;
        }
        self.published = Instant::now();
        let mut list = TopicPartitionList::new();
        for (&partition, lane) in consumer.context().lanes().iter() {
            if let Some(offset) = lane.committed() {
                let _ = list.add_partition_offset(topic, partition, Offset::Offset(offset));
            }
        }
        if list.count() > 0
            && let Err(error) = consumer.commit(&list, CommitMode::Async)
        {
            tracing::debug!(%error, "publishing positions to the consumer group");
        }
    }

    pub(crate) fn dispatch(
        &mut self,
        consumer: &BaseConsumer<RebalanceContext>,
        topic: &str,
        polled: Vec<OwnedMessage>,
    ) {
        let lanes = consumer.context().lanes();
        if !polled.is_empty() {
            let mut by_partition: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
            for message in polled {
                by_partition
                    .entry(message.partition())
                    .or_default()
                    .push(message);
            }
            for (partition, messages) in by_partition {
                // A partition without a thread was revoked, or is being recovered (its
                // consumer is rewound): the commands are fetched again.
                if let Some(lane) = lanes.get(&partition) {
                    lane.send(messages);
                }
            }
        }
        let mut pause = TopicPartitionList::new();
        let mut resume = TopicPartitionList::new();
        for (&partition, lane) in lanes.iter() {
            let queued = lane.queued();
            if queued > self.high_water && self.paused.insert(partition) {
                pause.add_partition(topic, partition);
            } else if queued < self.high_water / 4 && self.paused.remove(&partition) {
                resume.add_partition(topic, partition);
            }
        }
        self.paused.retain(|p| lanes.contains_key(p));
        drop(lanes);
        // Pausing only keeps a backlog in Kafka; a failure is retried at the next poll.
        if pause.count() > 0
            && let Err(error) = consumer.pause(&pause)
        {
            tracing::warn!(%error, "pausing lagging partitions");
            self.paused.clear();
        }
        if resume.count() > 0
            && let Err(error) = consumer.resume(&resume)
        {
            tracing::warn!(%error, "resuming partitions");
        }
    }
}
