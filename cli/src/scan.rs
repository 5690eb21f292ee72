//! Reading the events topic over a range: resolving bounds to offsets per partition
//! (offsets-for-times for moments), then one read_committed consumer assigned to every
//! partition, stopping at each partition's end unless following.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use event_store::{KafkaConfig, TopicSet};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::bound::Bound;

/// The events topic of one platform, reachable.
pub struct Log {
    pub consumer: BaseConsumer,
    pub topic: String,
    pub partitions: Vec<i32>,
    timeout: Duration,
}

/// What to read of one partition: `[start, end)`, or from `start` on when `end` is None.
/// Records before `emit_from` are read (to learn customers) but not handed out as matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    pub partition: i32,
    pub start: i64,
    pub emit_from: i64,
    pub end: Option<i64>,
}

impl Log {
    /// Connects and checks the events topic exists; a broker that does not answer within
    /// `timeout` is an error that names it.
    pub fn open(kafka: &KafkaConfig, timeout: Duration) -> anyhow::Result<Self> {
        let topic = TopicSet::new(&kafka.topic_prefix).events;
        let consumer: BaseConsumer = kafka
            .bulk_reader("orderlog-cli")
            .set("enable.partition.eof", "true")
            .set("fetch.wait.max.ms", "50")
            .set("log_level", "0")
            .create()
            .context("creating a Kafka consumer")?;
        let metadata = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach Kafka at {} within {} s ({e})",
                    kafka.bootstrap,
                    timeout.as_secs()
                )
            })?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            bail!(
                "topic {topic} does not exist at {} (is --topic-prefix right?)",
                kafka.bootstrap
            );
        }
        Ok(Self {
            consumer,
            topic,
            partitions,
            timeout,
        })
    }

    /// Keeps only `partition`, if given.
    pub fn only(mut self, partition: Option<i32>) -> anyhow::Result<Self> {
        if let Some(p) = partition {
            if !self.partitions.contains(&p) {
                bail!(
                    "partition {p} does not exist: {} has partitions 0 to {}",
                    self.topic,
                    self.partitions.len() - 1
                );
            }
            self.partitions = vec![p];
        }
        Ok(self)
    }

    pub fn watermarks(&self, partition: i32) -> anyhow::Result<(i64, i64)> {
        event_store::watermarks(&self.consumer, &self.topic, partition, self.timeout)
            .with_context(|| format!("reading the ends of {} partition {partition}", self.topic))
    }

    /// The first offset at or after `millis` in every partition (the end where none is).
    fn offsets_for_time(&self, millis: i64) -> anyhow::Result<BTreeMap<i32, i64>> {
        let mut query = TopicPartitionList::new();
        for p in &self.partitions {
            query.add_partition_offset(&self.topic, *p, Offset::Offset(millis))?;
        }
        let found = self
            .consumer
            .offsets_for_times(query, self.timeout)
            .context("looking offsets up by time")?;
        let mut offsets = BTreeMap::new();
        for p in &self.partitions {
            let offset = match found.find_partition(&self.topic, *p).map(|e| e.offset()) {
                Some(Offset::Offset(offset)) => offset,
                _ => self.watermarks(*p)?.1,
            };
            offsets.insert(*p, offset);
        }
        Ok(offsets)
    }

    fn resolve_one(
        &self,
        bound: Bound,
        lows: &BTreeMap<i32, (i64, i64)>,
    ) -> anyhow::Result<BTreeMap<i32, i64>> {
        Ok(match bound {
            Bound::Beginning => lows.iter().map(|(p, (low, _))| (*p, *low)).collect(),
            Bound::End => lows.iter().map(|(p, (_, high))| (*p, *high)).collect(),
            Bound::Offset(offset) => lows
                .iter()
                .map(|(p, (low, high))| (*p, offset.clamp(*low, *high)))
                .collect(),
            Bound::Time(time) => self.offsets_for_time(time.timestamp_millis())?,
        })
    }

    /// The offsets `[from, to)` per partition; `to: None` follows. With `discover`, every
    /// partition is read from its beginning and `emit_from` marks the requested start.
    pub fn ranges(
        &self,
        from: Bound,
        to: Option<Bound>,
        discover: bool,
    ) -> anyhow::Result<Vec<PartitionRange>> {
        let ends: BTreeMap<i32, (i64, i64)> = self
            .partitions
            .iter()
            .map(|p| self.watermarks(*p).map(|w| (*p, w)))
            .collect::<Result<_, _>>()?;
        let starts = self.resolve_one(from, &ends)?;
        let stops = to.map(|to| self.resolve_one(to, &ends)).transpose()?;
        Ok(ends
            .iter()
            .map(|(p, (low, _))| {
                let emit_from = starts[p];
                PartitionRange {
                    partition: *p,
                    start: if discover { *low } else { emit_from },
                    emit_from,
                    end: stops.as_ref().map(|s| s[p]),
                }
            })
            .collect())
    }

    /// Reads the ranges, calling `each(message, emit)` for every record in order per
    /// partition. Returns when every bounded range is done, or when `stop` is set.
    pub fn scan(
        &self,
        ranges: &[PartitionRange],
        stop: &Arc<AtomicBool>,
        mut idle: impl FnMut() -> anyhow::Result<()>,
        mut each: impl FnMut(&BorrowedMessage<'_>, bool) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let active: Vec<&PartitionRange> = ranges
            .iter()
            .filter(|r| r.end.is_none_or(|end| r.start < end))
            .collect();
        if active.is_empty() {
            return Ok(());
        }
        let follow = active.iter().any(|r| r.end.is_none());
        let by_partition: BTreeMap<i32, &PartitionRange> =
            active.iter().map(|r| (r.partition, *r)).collect();
        let mut assignment = TopicPartitionList::new();
        for r in &active {
            assignment.add_partition_offset(&self.topic, r.partition, Offset::Offset(r.start))?;
        }
        self.consumer
            .assign(&assignment)
            .context("assigning partitions")?;
        let mut done: HashSet<i32> = HashSet::new();
        while !stop.load(Ordering::Relaxed) {
            match self.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    let p = message.partition();
                    let Some(range) = by_partition.get(&p) else {
                        continue;
                    };
                    if done.contains(&p) {
                        continue;
                    }
                    if range.end.is_some_and(|end| message.offset() >= end) {
                        done.insert(p);
                    } else {
                        each(&message, message.offset() >= range.emit_from)?;
                        if range.end.is_some_and(|end| message.offset() + 1 >= end) {
                            done.insert(p);
                        }
                    }
                }
                // The end of what is committed in a partition.
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    if by_partition.get(&p).is_some_and(|r| r.end.is_some()) {
                        done.insert(p);
                    }
                    idle()?;
                }
                Some(Err(error)) if event_store::reader::is_transient(&error) => idle()?,
                Some(Err(error)) => return Err(error).context(format!("reading {}", self.topic)),
                None => {
                    // Past the last record before a bound there may only be a transaction
                    // marker, never delivered: the position tells.
                    if let Ok(positions) = self.consumer.position() {
                        for r in &active {
                            let position = positions
                                .find_partition(&self.topic, r.partition)
                                .and_then(|e| e.offset().to_raw());
                            if let (Some(end), Some(position)) = (r.end, position)
                                && position >= end
                            {
                                done.insert(r.partition);
                            }
                        }
                    }
                    idle()?;
                }
            }
            if !follow && done.len() == active.len() {
                break;
            }
        }
        Ok(())
    }
}

impl Log {
    /// Reads bounded `ranges` to their ends, calling `each` with every record in order per
    /// partition: `scan` for the commands that neither follow nor stop early.
    pub fn read_to_end(
        &self,
        ranges: &[PartitionRange],
        mut each: impl FnMut(&BorrowedMessage<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let never = Arc::new(AtomicBool::new(false));
        self.scan(ranges, &never, || Ok(()), |message, _| each(message))
    }
}

impl Log {
    /// Each assigned partition's position: the offset after the last record (or
    /// transaction marker) the reading has passed.
    pub fn positions(&self) -> BTreeMap<i32, i64> {
        let Ok(positions) = self.consumer.position() else {
            return BTreeMap::new();
        };
        positions
            .elements_for_topic(&self.topic)
            .iter()
            .filter_map(|e| {
                e.offset()
                    .to_raw()
                    .filter(|o| *o >= 0)
                    .map(|o| (e.partition(), o))
            })
            .collect()
    }
}

/// The total offsets to read, for progress (markers included, so an estimate).
pub fn span(ranges: &[PartitionRange]) -> Option<i64> {
    ranges
        .iter()
        .map(|r| r.end.map(|end| (end - r.start).max(0)))
        .sum()
}
