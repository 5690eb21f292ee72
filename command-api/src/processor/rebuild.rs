//! Rebuilding a partition's orders when this processor is assigned it: from the snapshot
//! changelog when every snapshot is readable, otherwise by folding the events partition.

use std::collections::HashMap;
use std::time::Instant;

use event_store::{KafkaConfig, Start, TopicSet, read_to_end, wire};
use rdkafka::Message;
use schemas::values::OrderId;

use super::partition::{POSITION_KEY, Position, SNAPSHOT_FORMAT, Snapshot};
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

/// A partition's orders as of the committed end of its log, and where its commands resume.
#[derive(Debug)]
pub struct Rebuilt {
    pub orders: HashMap<OrderId, OrderSlot>,
    pub source: Source,
    /// The next commands offset the state includes; `None` when no transaction recorded
    /// one (a new partition, or one last written before positions were recorded: the
    /// consumer group's committed offset is then the position).
    pub next_offset: Option<i64>,
}

/// Rebuilds `partition` from its snapshots, or from its events when a snapshot is
/// unreadable. Blocking.
pub fn rebuild(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<Rebuilt, RebuildError> {
    let started = Instant::now();
    let rebuilt = match from_snapshots(kafka, topics, partition)? {
        (Some(orders), next_offset) => Rebuilt {
            orders,
            source: Source::Snapshots,
            next_offset,
        },
        (None, _) => Rebuilt {
            orders: from_events(kafka, topics, partition)?,
            source: Source::Events,
            next_offset: read_position(kafka, topics, partition)?,
        },
    };
    tracing::info!(partition, orders = rebuilt.orders.len(), source = ?rebuilt.source, next_offset = ?rebuilt.next_offset, elapsed_ms = started.elapsed().as_millis() as u64, "partition rebuilt");
    metrics::histogram!("orderlog_processor_rebuild_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(rebuilt)
}

/// When `message` is the position record, keeps its position (a later one wins).
fn take_position(message: &impl Message, position: &mut Option<i64>) -> bool {
    if message.key() != Some(POSITION_KEY) {
        return false;
    }
    let parsed = message
        .payload()
        .and_then(|value| serde_json::from_slice::<Position>(value).ok());
    if let Some(parsed) = parsed {
        *position = Some(parsed.next_offset);
    }
    true
}

/// Only the recorded position, reading the whole snapshots partition (after an unreadable
/// snapshot stopped the first read).
fn read_position(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<Option<i64>, RebuildError> {
    let mut position = None;
    read_to_end(
        kafka,
        &topics.snapshots,
        partition,
        Start::Beginning,
        |message| {
            take_position(message, &mut position);
            Ok::<(), ()>(())
        },
    )
    .map_err(|error| RebuildError::Read {
        topic: topics.snapshots.clone(),
        error: match error {
            event_store::ReadError::Kafka(error) => error.to_string(),
            event_store::ReadError::Stopped(()) => "stopped".to_owned(),
        },
    })?;
    Ok(position)
}

/// Snapshots handed from the reading thread to a parser at once.
const CHUNK: usize = 2_000;
/// Threads parsing snapshots while the reading thread fetches the next ones.
const PARSERS: usize = 2;

/// A run of raw snapshot records, numbered in log order.
type Chunk = (usize, Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>);
/// The parsed chunk, or `None` when a record in it is unreadable.
type Parsed = (usize, Option<Vec<(OrderId, OrderSlot)>>);

/// The orders, `None` when some snapshot cannot be read (an older format: the events are
/// the truth then), and the last recorded position.
///
/// Parsing (JSON, most of the cost) runs on [`PARSERS`] threads beside the reading
/// thread; chunks are merged in log order, so a later snapshot of an order still wins.
fn from_snapshots(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<(Option<HashMap<OrderId, OrderSlot>>, Option<i64>), RebuildError> {
    let mut position = None;
    std::thread::scope(|scope| {
        let (chunks, chunk_queue) = std::sync::mpsc::sync_channel::<Chunk>(PARSERS * 2);
        let chunk_queue = std::sync::Arc::new(std::sync::Mutex::new(chunk_queue));
        let (parsed, parsed_queue) = std::sync::mpsc::channel::<Parsed>();
        for _ in 0..PARSERS {
            let (chunk_queue, parsed) = (chunk_queue.clone(), parsed.clone());
            scope.spawn(move || {
                loop {
                    let next = chunk_queue.lock().ok().and_then(|q| q.recv().ok());
                    let Some((index, records)) = next else { return };
                    let slots = records
                        .iter()
                        .map(|(key, value)| parse_snapshot(key.as_deref(), value.as_deref()))
                        .collect::<Option<Vec<_>>>();
                    if parsed.send((index, slots)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(parsed);
        let merger = scope.spawn(move || merge_in_order(parsed_queue));

        let mut chunk = Vec::with_capacity(CHUNK);
        let mut sent = 0;
        let read = read_to_end(
            kafka,
            &topics.snapshots,
            partition,
            Start::Beginning,
            |message| {
                if take_position(message, &mut position) {
                    return Ok(());
                }
                chunk.push((
                    message.key().map(<[u8]>::to_vec),
                    message.payload().map(<[u8]>::to_vec),
                ));
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    chunks.send((sent, full)).map_err(|_| ())?;
                    sent += 1;
                }
                Ok(())
            },
        );
        if !chunk.is_empty() {
            let _ = chunks.send((sent, chunk));
        }
        drop(chunks);
        let orders = merger.join().unwrap_or(None);
        match read {
            Ok(_) if orders.is_some() => Ok((orders, position)),
            Ok(_) | Err(event_store::ReadError::Stopped(())) => {
                tracing::warn!(
                    partition,
                    "a snapshot is unreadable; rebuilding the partition from its events"
                );
                Ok((None, None))
            }
            Err(event_store::ReadError::Kafka(error)) => Err(RebuildError::Read {
                topic: topics.snapshots.clone(),
                error: error.to_string(),
            }),
        }
    })
}

/// Applies parsed chunks in their log order; `None` as soon as one is unreadable.
fn merge_in_order(
    parsed: std::sync::mpsc::Receiver<Parsed>,
) -> Option<HashMap<OrderId, OrderSlot>> {
    let mut orders = HashMap::new();
    let mut waiting = std::collections::BTreeMap::new();
    let mut next = 0;
    for (index, slots) in parsed {
        waiting.insert(index, slots?);
        while let Some(slots) = waiting.remove(&next) {
            orders.extend(slots);
            next += 1;
        }
    }
    waiting.is_empty().then_some(orders)
}

fn parse_snapshot(key: Option<&[u8]>, value: Option<&[u8]>) -> Option<(OrderId, OrderSlot)> {
    let order_id = OrderId::parse(std::str::from_utf8(key?).ok()?).ok()?;
    let snapshot: Snapshot = serde_json::from_slice(value?).ok()?;
    (snapshot.format == SNAPSHOT_FORMAT).then_some((order_id, snapshot.slot))
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

#[cfg(test)]
mod tests {
    use schemas::OrderState;

    use super::*;

    fn slot(version_marker: usize) -> OrderSlot {
        let mut slot = OrderSlot::default();
        slot.recent.push_back(super::super::slot::Recent {
            command_id: uuid::Uuid::from_u128(version_marker as u128),
            fingerprint: None,
            outcome: schemas::CommandOutcome::IdempotencyKeyReused,
        });
        slot.state = OrderState::default();
        slot
    }

    #[test]
    fn chunks_parsed_out_of_order_merge_in_log_order_so_the_latest_snapshot_wins() {
        let order = OrderId::from_uuid(uuid::Uuid::from_u128(7));
        let (send, receive) = std::sync::mpsc::channel::<Parsed>();
        send.send((1, Some(vec![(order, slot(2))]))).expect("send");
        send.send((0, Some(vec![(order, slot(1))]))).expect("send");
        drop(send);
        let merged = merge_in_order(receive).expect("every chunk readable");
        assert_eq!(merged[&order], slot(2));
    }

    #[test]
    fn one_unreadable_chunk_means_no_snapshot_state() {
        let (send, receive) = std::sync::mpsc::channel::<Parsed>();
        send.send((0, Some(vec![]))).expect("send");
        send.send((1, None)).expect("send");
        drop(send);
        assert!(merge_in_order(receive).is_none());
    }

    #[test]
    fn a_snapshot_needs_an_order_id_key_and_the_current_format() {
        let order = OrderId::from_uuid(uuid::Uuid::from_u128(9));
        let key = order.to_string();
        let current = serde_json::to_vec(&Snapshot {
            format: SNAPSHOT_FORMAT,
            slot: slot(1),
        })
        .expect("json");
        let older = serde_json::to_vec(&Snapshot {
            format: SNAPSHOT_FORMAT + 1,
            slot: slot(1),
        })
        .expect("json");
        assert_eq!(
            parse_snapshot(Some(key.as_bytes()), Some(&current)),
            Some((order, slot(1)))
        );
        assert_eq!(parse_snapshot(Some(key.as_bytes()), Some(&older)), None);
        assert_eq!(parse_snapshot(Some(b"not-an-id"), Some(&current)), None);
        assert_eq!(parse_snapshot(None, Some(&current)), None);
    }
}
