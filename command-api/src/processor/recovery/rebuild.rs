//! Rebuilding a partition's orders when this processor is assigned it: from the snapshot
//! changelog when every snapshot is in the current format (kept unparsed until each order's
//! first command), otherwise by folding the events partition. A record that cannot be used
//! (a snapshot not keyed by an order, an event that does not decode or does not fit its
//! order, a result that does not parse) is skipped and screened out for the dead letters.
//! The snapshots are checked against the events they name (`catch_up`): a committed event
//! they lack is folded in.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use event_store::{KafkaConfig, Start, TopicSet, read_to_end, wire};
use rdkafka::Message;
use rdkafka::message::BorrowedMessage;
use schemas::order::EvolveError;
use schemas::values::OrderId;
use schemas::{CommandResult, EventEnvelope};

use crate::processor::recovery::catch_up;
use crate::processor::screening::screen::Screen;
use crate::processor::store::orders::Orders;
use crate::processor::store::slot::OrderSlot;
use crate::processor::store::snapshots::{self, POSITION_KEY, Position};

/// Where a rebuilt state came from, for logs and the takeover benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Snapshots,
    Events,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("reading {topic}: {error}")]
    Read { topic: String, error: String },
}

/// A partition's orders as of the committed end of its log, and where its commands resume.
pub(crate) struct Rebuilt {
    pub orders: Orders,
    pub source: Source,
    /// The next commands offset the state includes; `None` when no transaction recorded
    /// one (a new partition, or one last written before positions were recorded: the
    /// consumer group's committed offset is then the position).
    pub next_offset: Option<i64>,
    /// The unusable records met on the way, not dead-lettered yet.
    pub screen: Screen,
    /// The events offset the orders' states are complete up to (`None` for snapshots
    /// written before they named it: not checked against the events then).
    pub events_from: Option<i64>,
    /// Orders given committed events their snapshots lacked: their snapshots are stale.
    pub caught_up: HashSet<OrderId>,
}

/// What the snapshots partition holds.
struct FromSnapshots {
    /// `None` when a snapshot is not in a format read (the events are the truth then).
    orders: Option<Orders>,
    next_offset: Option<i64>,
    /// The highest events offset a record names (`EVENTS_FROM_HEADER`).
    events_from: Option<i64>,
    /// Whether any record is an order's snapshot.
    any_order: bool,
}

/// Rebuilds `partition` from its snapshots, or from its events when a snapshot is
/// unreadable. Blocking.
pub(crate) fn rebuild(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<Rebuilt, RebuildError> {
    let started = Instant::now();
    let mut screen = Screen::new(topics);
    let read = from_snapshots(kafka, topics, partition, &mut screen)?;
    let mut caught = catch_up::CaughtUp::default();
    let (orders, source, events_from) = match read.orders {
        Some(mut orders) => {
            // No order snapshot at all: every event is one the snapshots lack.
            let from = read.events_from.or((!read.any_order).then_some(0));
            if let Some(from) = from {
                caught = catch_up::fold_missing(kafka, topics, partition, &mut orders, from)
                    .map_err(|error| RebuildError::Read {
                        topic: topics.events.clone(),
                        error: error.to_string(),
                    })?;
            }
            let end = from.map(|_| caught.end);
            (orders, Source::Snapshots, end)
        }
        None => {
            let (orders, end) = screened_fold(kafka, topics, partition, &mut screen)?;
            (orders, Source::Events, Some(end))
        }
    };
    let rebuilt = Rebuilt {
        orders,
        source,
        next_offset: read.next_offset,
        screen,
        events_from,
        caught_up: caught.orders,
    };
    let (finals, final_bytes) = rebuilt.orders.finals();
    tracing::info!(partition, orders = rebuilt.orders.len(), finals, final_bytes, source = ?rebuilt.source, next_offset = ?rebuilt.next_offset, elapsed_ms = started.elapsed().as_millis() as u64, "partition rebuilt");
    metrics::gauge!("orderlog_processor_final_orders_at_takeover", "partition" => partition.to_string())
        .set(finals as f64);
    metrics::histogram!("orderlog_processor_rebuild_seconds")
        .record(started.elapsed().as_secs_f64());
    let source = match rebuilt.source {
        Source::Snapshots => "snapshots",
        Source::Events => "events",
    };
    metrics::counter!("orderlog_processor_rebuilds_total", "source" => source).increment(1);
    Ok(rebuilt)
}

/// When `message` is the position record, keeps its position (a later one wins).
fn take_position(message: &impl Message, position: &mut Option<Position>) -> bool {
    if message.key() != Some(POSITION_KEY) {
        return false;
    }
    let parsed = message
        .payload()
        .and_then(|value| serde_json::from_slice::<Position>(value).ok());
    if let Some(parsed) = parsed {
        *position = Some(parsed);
    }
    true
}

/// The orders' snapshots, unparsed (each is parsed on its order's first command), or `None`
/// when a record is not a snapshot of the current format (an older version wrote it: the
/// events are the truth then); and the last recorded position either way. A record not
/// keyed by an order is screened out.
fn from_snapshots(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    screen: &mut Screen,
) -> Result<FromSnapshots, RebuildError> {
    let mut position = None;
    let mut orders = Some(Orders::default());
    let mut unusable = Vec::new();
    let (mut events_from, mut any_order) = (None, false);
    let end = read_to_end::<std::convert::Infallible>(
        kafka,
        &topics.snapshots,
        partition,
        Start::Beginning,
        |message| {
            // Named by the position or an order's snapshot only: a record the partition's
            // writers did not write (screened out below) names nothing.
            if take_position(message, &mut position) {
                events_from = events_from.max(snapshots::events_from(message.headers()));
                return Ok(());
            }
            let Some(order_id) = order_key(message) else {
                unusable.push(message.detach());
                return Ok(());
            };
            any_order = true;
            events_from = events_from.max(snapshots::events_from(message.headers()));
            let Some(current) = orders.as_mut() else {
                return Ok(());
            };
            match snapshot_value(message) {
                Some(value) => current.insert_snapshot(order_id, value.into()),
                None => {
                    tracing::warn!(
                        partition,
                        offset = message.offset(),
                        "a snapshot is not in the current format; rebuilding the partition from its events"
                    );
                    orders = None;
                }
            }
            Ok(())
        },
    )
    .map_err(|error| RebuildError::Read {
        topic: topics.snapshots.clone(),
        error: error.to_string(),
    })?;
    if let Some(position) = position {
        screen.screened_before(position.screened);
    }
    for message in &unusable {
        screen.unusable(message, "a snapshot not keyed by an order id");
    }
    screen.read(&topics.snapshots, end);
    let next_offset = match position {
        Some(position) => trusted_position(kafka, topics, partition, position.next_offset)?,
        None => None,
    };
    Ok(FromSnapshots {
        orders,
        next_offset,
        events_from,
        any_order,
    })
}

/// A recorded position is input too: one beyond the end of the commands log (which no
/// processor can have written) would skip the commands that arrive up to it. It is not
/// trusted; the consumer group's committed offset is the position then.
fn trusted_position(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    next_offset: i64,
) -> Result<Option<i64>, RebuildError> {
    let read_error = |error: rdkafka::error::KafkaError| RebuildError::Read {
        topic: topics.commands.clone(),
        error: error.to_string(),
    };
    let consumer: rdkafka::consumer::BaseConsumer = kafka.client().create().map_err(read_error)?;
    let (_, high) = event_store::watermarks(
        &consumer,
        &topics.commands,
        partition,
        std::time::Duration::from_secs(10),
    )
    .map_err(read_error)?;
    if (0..=high).contains(&next_offset) {
        return Ok(Some(next_offset));
    }
    tracing::warn!(
        partition,
        next_offset,
        commands_end = high,
        "the recorded position is not within the commands log; not trusted"
    );
    metrics::counter!("orderlog_processor_untrusted_positions_total").increment(1);
    Ok(None)
}

/// The order id a snapshot record is keyed by.
fn order_key(message: &impl Message) -> Option<OrderId> {
    OrderId::parse(std::str::from_utf8(message.key()?).ok()?).ok()
}

/// A snapshot's value when the record is in the current format.
fn snapshot_value(message: &impl Message) -> Option<&[u8]> {
    snapshots::is_readable(message.headers()).then_some(())?;
    message.payload()
}

/// Folds every event of the partition (the benchmark measures this path's events/s).
#[cfg(any(test, feature = "measure"))]
pub(crate) fn from_events(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<Orders, RebuildError> {
    Ok(screened_fold(kafka, topics, partition, &mut Screen::new(topics))?.0)
}

fn screened_fold(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    screen: &mut Screen,
) -> Result<(Orders, i64), RebuildError> {
    let mut orders: HashMap<OrderId, OrderSlot> = HashMap::new();
    let end = fold_matching(
        kafka,
        topics,
        partition,
        screen,
        |_| true,
        |envelope| {
            orders
                .entry(envelope.order_id)
                .or_default()
                .replay(envelope)
        },
    )?;
    fill_fingerprints(kafka, topics, partition, screen, orders.values_mut())?;
    Ok((orders.into_iter().collect(), end))
}

/// Events do not carry the request's fingerprint, so the answers a fold remembers lack
/// it; the results partition has it (a result is committed with its events). Without it
/// the same `Idempotency-Key` with another request would get the first answer instead of
/// `idempotency_key_reused`.
fn fill_fingerprints<'a>(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    screen: &mut Screen,
    slots: impl Iterator<Item = &'a mut OrderSlot>,
) -> Result<(), RebuildError> {
    let mut missing: HashMap<uuid::Uuid, Vec<&'a mut Option<String>>> = HashMap::new();
    for slot in slots {
        for recent in slot.recent.iter_mut().filter(|r| r.fingerprint.is_none()) {
            missing
                .entry(recent.command_id)
                .or_default()
                .push(&mut recent.fingerprint);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let end = read_to_end::<std::convert::Infallible>(
        kafka,
        &topics.results,
        partition,
        Start::Beginning,
        |message| {
            let result = message
                .payload()
                .and_then(|value| serde_json::from_slice::<CommandResult>(value).ok());
            match result {
                Some(result) => {
                    if let Some(fingerprints) = missing.get_mut(&result.command_id) {
                        for fingerprint in fingerprints.iter_mut() {
                            fingerprint.get_or_insert_with(|| result.fingerprint.clone());
                        }
                    }
                }
                None => screen.unusable(message, "not a command result"),
            }
            Ok(())
        },
    )
    .map_err(|error| RebuildError::Read {
        topic: topics.results.clone(),
        error: error.to_string(),
    })?;
    screen.read(&topics.results, end);
    Ok(())
}

/// Folds one order's events (when its snapshot turns out unreadable on its first
/// command): a read of the whole partition that decodes only that order's records.
pub(crate) fn order_from_events(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    order_id: OrderId,
) -> Result<OrderSlot, RebuildError> {
    let key = order_id.to_string();
    let mut slot = OrderSlot::default();
    // Only this order's records are looked at: what is unusable is skipped here, and
    // dead-lettered by the partition's next takeover, which reads the whole partition.
    let mut screen = Screen::new(topics);
    fold_matching(
        kafka,
        topics,
        partition,
        &mut screen,
        |message| message.key() == Some(key.as_bytes()),
        |envelope| slot.replay(envelope),
    )?;
    fill_fingerprints(
        kafka,
        topics,
        partition,
        &mut screen,
        std::iter::once(&mut slot),
    )?;
    Ok(slot)
}

/// Reads the events partition to its end, decoding and folding the records `wanted` keeps;
/// an event that does not decode or does not fit its order is screened out. A rejected
/// event leaves its order as it was (the fold of an order is all or nothing per event).
/// Returns where the partition ended.
fn fold_matching(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    screen: &mut Screen,
    wanted: impl Fn(&BorrowedMessage<'_>) -> bool,
    mut fold: impl FnMut(&EventEnvelope) -> Result<(), EvolveError>,
) -> Result<i64, RebuildError> {
    let end = read_to_end::<std::convert::Infallible>(
        kafka,
        &topics.events,
        partition,
        Start::Beginning,
        |message| {
            if !wanted(message) {
                return Ok(());
            }
            let folded = wire::decode_event(message)
                .map_err(|e| format!("not an event: {e}"))
                .and_then(|envelope| {
                    fold(&envelope).map_err(|e| format!("does not fit its order: {e}"))
                });
            if let Err(reason) = folded {
                screen.unusable(message, &reason);
            }
            Ok(())
        },
    )
    .map_err(|error| RebuildError::Read {
        topic: topics.events.clone(),
        error: error.to_string(),
    })?;
    screen.read(&topics.events, end);
    Ok(end)
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

    use super::*;

    fn record(key: &[u8], format: Option<&str>) -> OwnedMessage {
        let headers = format.map(|format| {
            OwnedHeaders::new().insert(Header {
                key: snapshots::FORMAT_HEADER,
                value: Some(format.as_bytes()),
            })
        });
        let value = snapshots::encode(&OrderSlot::default()).0;
        OwnedMessage::new(
            Some(value),
            Some(key.to_vec()),
            "snapshots".to_owned(),
            Timestamp::NotAvailable,
            0,
            0,
            headers,
        )
    }

    #[test]
    fn a_snapshot_record_needs_an_order_id_key_and_the_current_format_header() {
        let order = OrderId::from_uuid(uuid::Uuid::from_u128(9));
        let key = order.to_string();
        let current = snapshots::SNAPSHOT_FORMAT.to_string();
        let readable = record(key.as_bytes(), Some(&current));
        assert_eq!(order_key(&readable), Some(order));
        let value = snapshot_value(&readable).expect("a snapshot");
        assert_eq!(snapshots::decode(value), Some(OrderSlot::default()));
        assert!(snapshot_value(&record(key.as_bytes(), Some("4"))).is_none());
        assert!(
            snapshot_value(&record(key.as_bytes(), None)).is_some(),
            "written before the header, in format 1"
        );
        assert_eq!(order_key(&record(b"not-an-id", Some(&current))), None);
    }

    #[test]
    fn the_position_record_is_recognised_by_its_key() {
        let mut position = None;
        let value = serde_json::to_vec(&Position {
            next_offset: 42,
            screened: Default::default(),
        })
        .expect("json");
        let message = OwnedMessage::new(
            Some(value),
            Some(POSITION_KEY.to_vec()),
            "snapshots".to_owned(),
            Timestamp::NotAvailable,
            0,
            0,
            None,
        );
        assert!(take_position(&message, &mut position));
        assert_eq!(position.map(|p| p.next_offset), Some(42));
        let order = record(b"x", None);
        assert!(!take_position(&order, &mut position));
    }
}
