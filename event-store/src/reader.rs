//! Reading one partition from a starting point up to its end (the last stable offset, as
//! a read_committed reader sees it). Blocking: run it on a blocking thread.

use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, OwnedMessage};
use rdkafka::types::RDKafkaErrorCode;
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

/// The low and high watermarks of a partition. A partition that was just created, or whose
/// broker has just started, answers "not leader" or "unknown" for a moment: those answers
/// are retried until `timeout`, anything else is returned at once.
pub fn watermarks<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(i64, i64), KafkaError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match consumer.fetch_watermarks(topic, partition, left.max(Duration::from_millis(100))) {
            Err(error) if is_transient(&error) && !left.is_zero() => {
                tracing::debug!(topic, partition, %error, "watermarks not available yet; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

/// Assigns `consumer` each (topic, partition) of `wanted` from its end as of now, resolved
/// here: `Offset::End` would be resolved when the fetcher starts, after records written
/// meanwhile perhaps, which the caller would then never see.
pub fn assign_at_end<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    wanted: &[(&str, i32)],
    timeout: Duration,
) -> Result<(), KafkaError> {
    let mut assignment = TopicPartitionList::new();
    for &(topic, partition) in wanted {
        let (_, end) = watermarks(consumer, topic, partition, timeout)?;
        assignment.add_partition_offset(topic, partition, Offset::Offset(end))?;
    }
    consumer.assign(&assignment)
}

/// Waits until no transaction is open on `topic`/`partition`: its last stable offset (what
/// a read_committed reader reaches) equals its high watermark. After a writer's
/// `init_transactions` fenced its predecessor, this is the moment its predecessor's last
/// transaction, committed or aborted, is fully visible, so a read to the end is the truth.
pub fn wait_settled(
    kafka: &KafkaConfig,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(), KafkaError> {
    let committed: BaseConsumer<ReaderContext> = kafka
        .read_committed_consumer("orderlog-reader")
        .create_with_context(ReaderContext)?;
    let uncommitted: BaseConsumer<ReaderContext> = kafka
        .read_committed_consumer("orderlog-reader")
        .set("isolation.level", "read_uncommitted")
        .create_with_context(ReaderContext)?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, stable) = watermarks(&committed, topic, partition, left)?;
        let (_, high) = watermarks(&uncommitted, topic, partition, left)?;
        if stable >= high {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        tracing::debug!(
            topic,
            partition,
            stable,
            high,
            "a transaction is still open; waiting"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Errors that go away on their own: partitions moving or starting, coordinators loading,
/// a broker briefly out of reach, or a broker handle librdkafka replaced while a request
/// waited on it (`DestroyBroker`: seen when a process starts while a cluster's nodes are
/// still coming up; chaos-short's processor exited on it at start).
pub fn is_transient(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::NotLeaderForPartition
                | Code::LeaderNotAvailable
                | Code::UnknownTopicOrPartition
                | Code::UnknownPartition
                | Code::UnknownTopic
                | Code::OperationTimedOut
                | Code::RequestTimedOut
                | Code::BrokerTransportFailure
                | Code::CoordinatorLoadInProgress
                | Code::NotCoordinator
                | Code::CoordinatorNotAvailable
                | Code::ConcurrentTransactions
                | Code::AllBrokersDown
                | Code::DestroyBroker
        )
    )
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
    let consumer: BaseConsumer<ReaderContext> = kafka
        .bulk_reader("orderlog-reader")
        .create_with_context(ReaderContext)?;
    let (low, high) = watermarks(&consumer, topic, partition, WATERMARKS_TIMEOUT)?;
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
            Some(Err(KafkaError::PartitionEOF(_))) => {
                return Ok(next.max(position(&consumer, topic, partition, next)));
            }
            Some(Err(error)) => return Err(ReadError::Kafka(error)),
            None => {}
        }
    }
}

/// The committed record at `offset` of `topic`/`partition`, with its key, value and
/// headers, for a copy of it elsewhere (a dead letter). `None` when the log no longer holds
/// it (removed by retention) or it did not arrive within `timeout`.
pub fn read_record(
    kafka: &KafkaConfig,
    topic: &str,
    partition: i32,
    offset: i64,
    timeout: Duration,
) -> Result<Option<OwnedMessage>, KafkaError> {
    let consumer: BaseConsumer<ReaderContext> = kafka
        .read_committed_consumer("orderlog-reader")
        .create_with_context(ReaderContext)?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match consumer.poll(POLL) {
            // A reader sent past a removed offset starts at the earliest one left.
            Some(Ok(message)) => return Ok((message.offset() == offset).then(|| message.detach())),
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(None),
            Some(Err(error)) if is_transient(&error) => {}
            Some(Err(error)) => return Err(error),
            None => {}
        }
    }
    Ok(None)
}

/// Logs librdkafka's errors as rdkafka's default context does, except the end of the
/// partition, which this reader waits for (librdkafka also reports it as a global error).
struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// The consumer's position, which moves past transaction markers a reader never sees.
fn position(
    consumer: &BaseConsumer<ReaderContext>,
    topic: &str,
    partition: i32,
    fallback: i64,
) -> i64 {
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

#[cfg(test)]
mod tests {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    use super::is_transient;

    #[test]
    fn a_broker_handle_replaced_under_a_request_is_waited_out_and_a_refusal_is_not() {
        assert!(is_transient(&KafkaError::MetadataFetch(
            RDKafkaErrorCode::DestroyBroker
        )));
        assert!(is_transient(&KafkaError::MetadataFetch(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
        assert!(!is_transient(&KafkaError::MetadataFetch(
            RDKafkaErrorCode::TopicAuthorizationFailed
        )));
    }
}
