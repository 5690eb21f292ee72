//! The end of each assigned partition, for the lag: refreshed at most once a second.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use super::assign::StartAtStoredOffsets;
use crate::offsets;

#[derive(Default)]
pub(super) struct Watermarks {
    highs: HashMap<i32, i64>,
    refreshed: Option<Instant>,
    idle_observed: Option<Instant>,
}

impl Watermarks {
    pub(super) fn refresh(
        &mut self,
        consumer: &BaseConsumer<StartAtStoredOffsets>,
        topic: &str,
        partitions: &[i32],
    ) -> HashMap<i32, i64> {
        if self
            .refreshed
            .is_none_or(|at| at.elapsed() > Duration::from_secs(1))
        {
            for partition in partitions {
                if let Ok((_, high)) =
                    consumer.fetch_watermarks(topic, *partition, Duration::from_secs(2))
                {
                    self.highs.insert(*partition, high);
                }
            }
            self.refreshed = Some(Instant::now());
        }
        self.highs.clone()
    }

    /// While idle, once a second: each assigned partition's consumer position and end.
    pub(super) fn idle_ends(
        &mut self,
        consumer: &BaseConsumer<StartAtStoredOffsets>,
        topic: &str,
        partitions: &[i32],
    ) -> Option<Vec<offsets::LogEnd>> {
        if self
            .idle_observed
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
            || partitions.is_empty()
        {
            return None;
        }
        self.idle_observed = Some(Instant::now());
        let highs = self.refresh(consumer, topic, partitions);
        let positions = consumer.position().ok()?;
        let ends = partitions
            .iter()
            .filter_map(|partition| {
                let position = positions
                    .find_partition(topic, *partition)?
                    .offset()
                    .to_raw()?;
                let high_watermark = *highs.get(partition)?;
                (position >= 0).then_some(offsets::LogEnd {
                    partition: *partition,
                    position,
                    high_watermark,
                })
            })
            .collect();
        Some(ends)
    }
}
