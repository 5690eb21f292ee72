//! Reading one partition from a starting point up to its end (the last stable offset, as
//! a read_committed reader sees it). Blocking: run it on a blocking thread.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::KafkaConfig;

const POLL: Duration = Duration::from_millis(500);
const WATERMARKS_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Beginning,
    Offset(i64),
    /// The first record at or after this time (milliseconds since the epoch).
    Timestamp(i64),
}

/// Reads `topic`/`partition` from `start` to its current end, calling `each` for every
/// committed record in order. Returns the offset after the last record read (where a
/// reader continues). Stops early when `each` returns an error.
pub fn read_to_end<E>(
    kafka: &KafkaConfig,
    topic: &str,
    partition: i32,
    start: Start,
    mut each: impl FnMut(&BorrowedMessage<'_>) -> Result<(), E>,
) -> Result<i64, ReadError<E>> {
    let consumer: BaseConsumer = kafka
        .read_committed_consumer("orderlog-reader")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "16777216")
        .set("queued.min.messages", "200000")
        .create()?;
    let (low, high) = consumer.fetch_watermarks(topic, partition, WATERMARKS_TIMEOUT)?;
    let start = match start {
        Start::Beginning => low,
        Start::Offset(offset) => offset.clamp(low, high),
        Start::Timestamp(millis) => {
            let mut query = TopicPartitionList::new();
            query.add_partition_offset(topic, partition, Offset::Offset(millis))?;
            let found = consumer.offsets_for_times(query, WATERMARKS_TIMEOUT)?;
            match found.find_partition(topic, partition).map(|p| p.offset()) {
                Some(Offset::Offset(offset)) => offset,
                _ => high,
            }
        }
    };
    if start >= high {
        return Ok(start);
    }
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(start))?;
    consumer.assign(&assignment)?;
    let mut next = start;
    loop {
        match consumer.poll(POLL) {
            Some(Ok(message)) => {
                next = message.offset() + 1;
                each(&message).map_err(ReadError::Stopped)?;
            }
            // End of partition: for a read_committed reader, the last stable offset.
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(next.max(position(&consumer, topic, partition, next))),
            Some(Err(error)) => return Err(ReadError::Kafka(error)),
            None => {}
        }
    }
}

/// The consumer's position, which moves past transaction markers a reader never sees.
fn position(consumer: &BaseConsumer, topic: &str, partition: i32, fallback: i64) -> i64 {
    consumer
        .position()
        .ok()
        .and_then(|list| list.find_partition(topic, partition).map(|p| p.offset()))
        .and_then(|offset| offset.to_raw())
        .filter(|offset| *offset >= 0)
        .unwrap_or(fallback)
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("reading stopped: {0}")]
    Stopped(E),
}
