//! Reading a partition of the snapshots topic for a rebuild: the orders' snapshots (kept
//! unparsed), the recorded position, and what the records' marks say (`store::marks`): the
//! events offset to check the snapshots from, the partition's last transaction, and where
//! its dead letters are found.

use event_store::{KafkaConfig, Start, TopicSet, read_to_end};
use rdkafka::Message;
use schemas::values::OrderId;

use crate::processor::recovery::rebuild_error::RebuildError;
use crate::processor::recovery::unconfirmed::LastTxn;
use crate::processor::screening::screen::Screen;
use crate::processor::store::deadlines;
use crate::processor::store::marks::Marks;
use crate::processor::store::orders::Orders;
use crate::processor::store::snapshots::{self, POSITION_KEY, Position};

/// What the snapshots partition holds.
pub(crate) struct FromSnapshots {
    /// `None` when a snapshot is not in a format read (the events are the truth then).
    pub orders: Option<Orders>,
    pub next_offset: Option<i64>,
    /// The highest events offset a record names.
    pub events_from: Option<i64>,
    /// Whether any record is an order's snapshot.
    pub any_order: bool,
    /// The partition's last transaction, as its records describe it.
    pub last: LastTxn,
    /// The dead-letter offset the latest position names.
    pub letters_from: Option<i64>,
}

/// The orders' snapshots, unparsed (each is parsed on its order's first command), or `None`
/// when a record is not a snapshot of the current format (an older version wrote it: the
/// events are the truth then); and the last recorded position either way. A record not
/// keyed by an order is screened out. The records of transaction `set_aside` (one whose
/// events never landed: `unconfirmed`) are read as if they were not there; an empty
/// snapshot says its order has none (written when one was set aside).
pub(crate) fn from_snapshots(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    screen: &mut Screen,
    set_aside: Option<i64>,
) -> Result<FromSnapshots, RebuildError> {
    let mut position = None;
    let mut read = FromSnapshots {
        orders: Some(Orders::default()),
        next_offset: None,
        events_from: None,
        any_order: false,
        last: LastTxn::default(),
        letters_from: None,
    };
    let mut unusable = Vec::new();
    let end = read_to_end::<std::convert::Infallible>(
        kafka,
        &topics.snapshots,
        partition,
        Start::Beginning,
        |message| {
            let marks = Marks::read(message.headers());
            if set_aside.is_some() && marks.txn == set_aside {
                return Ok(());
            }
            // Named by the position or an order's snapshot only: a record the partition's
            // writers did not write (screened out below) names nothing.
            if take_position(message, &mut position) {
                read.events_from = read.events_from.max(marks.events_from);
                read.letters_from = marks.letters_from;
                read.last.observe(&marks, None);
                return Ok(());
            }
            let Some(order_id) = order_key(message) else {
                unusable.push(message.detach());
                return Ok(());
            };
            read.any_order = true;
            read.events_from = read.events_from.max(marks.events_from);
            read.last.observe(&marks, Some(order_id));
            let Some(current) = read.orders.as_mut() else {
                return Ok(());
            };
            match snapshot_value(message) {
                Some([]) => current.remove(&order_id),
                Some(value) => current.insert_snapshot(
                    order_id,
                    value.into(),
                    deadlines::read_due(message.headers()),
                ),
                None => {
                    tracing::warn!(
                        partition,
                        offset = message.offset(),
                        "a snapshot is not in the current format; rebuilding the partition from its events"
                    );
                    read.orders = None;
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
    read.next_offset = match position {
        Some(position) => trusted_position(kafka, topics, partition, position.next_offset)?,
        None => None,
    };
    Ok(read)
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

/// A snapshot's value when the record is in the current format (an absent value reads as
/// an empty one).
fn snapshot_value(message: &impl Message) -> Option<&[u8]> {
    snapshots::is_readable(message.headers()).then_some(())?;
    Some(message.payload().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

    use super::*;
    use crate::processor::store::slot::OrderSlot;

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
