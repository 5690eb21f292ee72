//! Rebuilding a partition's orders when this processor is assigned it: from the snapshot
//! changelog when every snapshot is readable, otherwise by folding the events partition.

use std::collections::HashMap;
use std::time::Instant;

use event_store::{KafkaConfig, Start, TopicSet, read_to_end, wire};
use rdkafka::Message;
use schemas::values::OrderId;

use super::partition::{SNAPSHOT_FORMAT, Snapshot};
use super::slot::OrderSlot;

/// Where a rebuilt state came from, for logs and the takeover benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Snapshots,
    Events,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("reading {topic}: {error}")]
    Read { topic: String, error: String },
    #[error("event at offset {offset} of partition {partition} does not fit its order: {reason}")]
    Corrupt {
        partition: i32,
        offset: i64,
        reason: String,
    },
}

/// The orders of `partition`, as of the committed end of the log. Blocking.
pub fn rebuild(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<(HashMap<OrderId, OrderSlot>, Source), RebuildError> {
    let started = Instant::now();
    let result = match from_snapshots(kafka, topics, partition)? {
        Some(orders) => (orders, Source::Snapshots),
        None => (from_events(kafka, topics, partition)?, Source::Events),
    };
    tracing::info!(partition, orders = result.0.len(), source = ?result.1, elapsed_ms = started.elapsed().as_millis() as u64, "partition rebuilt");
    metrics::histogram!("orderlog_processor_rebuild_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(result)
}

/// `None` when some snapshot cannot be read (an older format): the events are the truth.
fn from_snapshots(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<Option<HashMap<OrderId, OrderSlot>>, RebuildError> {
    let mut orders = HashMap::new();
    let read = read_to_end(
        kafka,
        &topics.snapshots,
        partition,
        Start::Beginning,
        |message| {
            let key = message
                .key()
                .and_then(|k| std::str::from_utf8(k).ok())
                .and_then(|k| OrderId::parse(k).ok());
            let snapshot = message
                .payload()
                .and_then(|v| serde_json::from_slice::<Snapshot>(v).ok());
            match (key, snapshot) {
                (Some(order_id), Some(snapshot)) if snapshot.format == SNAPSHOT_FORMAT => {
                    orders.insert(order_id, snapshot.slot);
                    Ok(())
                }
                _ => Err(()),
            }
        },
    );
    match read {
        Ok(_) => Ok(Some(orders)),
        Err(event_store::ReadError::Stopped(())) => {
            tracing::warn!(
                partition,
                "a snapshot is unreadable; rebuilding the partition from its events"
            );
            Ok(None)
        }
        Err(event_store::ReadError::Kafka(error)) => Err(RebuildError::Read {
            topic: topics.snapshots.clone(),
            error: error.to_string(),
        }),
    }
}

/// Folds every event of the partition (the benchmark measures this path's events/s).
pub fn from_events(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<HashMap<OrderId, OrderSlot>, RebuildError> {
    let mut orders: HashMap<OrderId, OrderSlot> = HashMap::new();
    let read = read_to_end(
        kafka,
        &topics.events,
        partition,
        Start::Beginning,
        |message| {
            let corrupt = |reason: String| RebuildError::Corrupt {
                partition,
                offset: message.offset(),
                reason,
            };
            let envelope = wire::decode_event(message).map_err(|e| corrupt(e.to_string()))?;
            orders
                .entry(envelope.order_id)
                .or_default()
                .replay(&envelope)
                .map_err(|e| corrupt(e.to_string()))
        },
    );
    match read {
        Ok(_) => Ok(orders),
        Err(event_store::ReadError::Stopped(error)) => Err(error),
        Err(event_store::ReadError::Kafka(error)) => Err(RebuildError::Read {
            topic: topics.events.clone(),
            error: error.to_string(),
        }),
    }
}
