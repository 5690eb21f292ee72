//! What a partition of the snapshots topic holds: one record per order (its latest
//! [`OrderSlot`], keyed by order id; the topic is compacted) and the partition's position on
//! the commands topic (under [`POSITION_KEY`]). Pure encoding: no Kafka client here.

use rdkafka::message::{Header, Headers, OwnedHeaders};
use serde::{Deserialize, Serialize};

use crate::processor::store::slot::OrderSlot;
use crate::processor::store::{compact, deadlines};

/// The snapshot record format written. A record whose header names a format this version
/// does not read (a newer version wrote it) makes a new owner rebuild the partition from its
/// events.
pub const SNAPSHOT_FORMAT: u32 = 3;

/// The formats this version reads: its own and the ones before it.
pub(crate) const FORMATS_READ: [u32; 3] = [1, 2, SNAPSHOT_FORMAT];

/// The record header carrying the format, readable without parsing the value: a takeover
/// checks it on every record and leaves parsing to each order's first command. Records
/// without it were written before the header existed, in format 1.
pub const FORMAT_HEADER: &str = "orderlog-snapshot-format";

/// One order's record on the snapshots topic in format 1 (JSON).
#[derive(Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub slot: OrderSlot,
}

/// The snapshots topic's key for the partition's position on the commands topic (no order
/// id looks like it). Written in every transaction beside the snapshots, it says which
/// commands the snapshots already include.
pub const POSITION_KEY: &[u8] = b"~commands-position";

/// The value under [`POSITION_KEY`]: the next commands offset to process, and how far the
/// partition's other topics were screened for poison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub next_offset: i64,
    /// Absent in positions written before screening existed: nothing screened yet.
    #[serde(default)]
    pub screened: Screened,
}

/// Per topic, the offset below which every unusable record a takeover found was already
/// dead-lettered, so a later takeover reading the same records writes no second letter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screened {
    pub snapshots: i64,
    pub events: i64,
    pub results: i64,
}

impl Screened {
    /// How far `topic` was screened (0 for a topic a takeover does not read).
    pub fn of(&self, topics: &event_store::TopicSet, topic: &str) -> i64 {
        match topic {
            t if t == topics.snapshots => self.snapshots,
            t if t == topics.events => self.events,
            t if t == topics.results => self.results,
            _ => 0,
        }
    }

    /// The furthest of both, topic by topic.
    #[must_use]
    pub fn max(self, other: Self) -> Self {
        Self {
            snapshots: self.snapshots.max(other.snapshots),
            events: self.events.max(other.events),
            results: self.results.max(other.results),
        }
    }
}

/// The value and headers of an order's snapshot record.
/// The order's pending deadline rides in a header (`deadlines::DUE_HEADER`), so a takeover
/// finds the due times without parsing the snapshots.
pub(crate) fn encode(slot: &OrderSlot) -> (Vec<u8>, OwnedHeaders) {
    let mut headers = headers();
    if let Some(due) = schemas::order::deadline::pending(&slot.state) {
        headers = headers.insert(Header {
            key: deadlines::DUE_HEADER,
            value: Some(deadlines::header_value(due).as_bytes()),
        });
    }
    (compact::encode(slot), headers)
}

/// The headers of a snapshot record written in [`SNAPSHOT_FORMAT`].
pub(crate) fn headers() -> OwnedHeaders {
    OwnedHeaders::new().insert(Header {
        key: FORMAT_HEADER,
        value: Some(SNAPSHOT_FORMAT.to_string().as_bytes()),
    })
}

/// A snapshot value in format 1, as versions before format 2 wrote it (for tests of the
/// upgrade).
pub fn encode_format_1(slot: &OrderSlot) -> Vec<u8> {
    serde_json::to_vec(&SnapshotRef { format: 1, slot }).unwrap_or_default()
}

/// Whether a record's headers name a format this version reads (no format header: format
/// 1, from before the header existed).
pub(crate) fn is_readable<H: Headers>(headers: Option<&H>) -> bool {
    let format = headers
        .and_then(|headers| headers.iter().find(|h| h.key == FORMAT_HEADER))
        .map(|header| {
            header
                .value
                .and_then(|value| std::str::from_utf8(value).ok()?.parse::<u32>().ok())
        });
    match format {
        Some(format) => format.is_some_and(|format| FORMATS_READ.contains(&format)),
        None => true,
    }
}

/// The order a snapshot value holds, in any format read; `None` when it is none of them.
pub fn decode(value: &[u8]) -> Option<OrderSlot> {
    if matches!(value.first(), Some(&(compact::MAGIC | compact::MAGIC_2))) {
        return compact::decode(value);
    }
    let snapshot: Snapshot = serde_json::from_slice(value).ok()?;
    (snapshot.format == 1).then_some(snapshot.slot)
}

/// [`Snapshot`] by reference, so encoding does not clone the slot.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    format: u32,
    slot: &'a OrderSlot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_snapshot_decodes_to_the_same_slot_and_carries_its_format() {
        let slot = OrderSlot::default();
        let (value, headers) = encode(&slot);
        assert_eq!(value.first(), Some(&compact::MAGIC));
        assert_eq!(decode(&value), Some(slot));
        assert!(is_readable(Some(&headers)));
    }

    #[test]
    fn format_1_is_still_read_with_or_without_its_header() {
        assert!(is_readable::<OwnedHeaders>(None));
        assert!(is_readable(Some(&OwnedHeaders::new())));
        let format_1 = OwnedHeaders::new().insert(Header {
            key: FORMAT_HEADER,
            value: Some(b"1"),
        });
        assert!(is_readable(Some(&format_1)));
        let before_headers =
            br#"{"format":1,"slot":{"state":{"version":0,"order":null},"recent":[]}}"#;
        assert_eq!(decode(before_headers), Some(OrderSlot::default()));
        assert_eq!(
            decode(&encode_format_1(&OrderSlot::default())),
            Some(OrderSlot::default())
        );
    }

    #[test]
    fn other_formats_are_not_read() {
        let newer = OwnedHeaders::new().insert(Header {
            key: FORMAT_HEADER,
            value: Some(b"4"),
        });
        assert!(!is_readable(Some(&newer)));
        let garbled = OwnedHeaders::new().insert(Header {
            key: FORMAT_HEADER,
            value: Some(b"two"),
        });
        assert!(!is_readable(Some(&garbled)));
        let newer_value = serde_json::to_vec(&Snapshot {
            format: 4,
            slot: OrderSlot::default(),
        })
        .expect("encode");
        assert_eq!(decode(&newer_value), None);
        assert_eq!(decode(b"{not json"), None);
        assert_eq!(decode(b""), None);
    }
}
