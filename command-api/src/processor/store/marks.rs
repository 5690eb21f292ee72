//! What every record of the snapshots topic says about the transaction that wrote it, read
//! back by a takeover to check that transaction's parts against each other.
//!
//! Kafka does not always commit a transaction whole. Seen on one broker killed while it wrote
//! a commit's markers (Kafka 4.3.1, `broker_restart` on CI): after the restart the
//! transaction coordinator found the partitions without a leader and skipped their markers
//! ("Couldn't find leader endpoint ... these partitions are likely deleted already and hence
//! can be skipped"), completing the commit with some partitions' records committed and the
//! others later aborted. Any subset of a transaction's partitions can be lost that way, but
//! only in the last transaction of a partition's writer before the takeover that follows
//! (docs/architecture.md, "When Kafka commits part of a transaction"). These marks let the
//! next owner tell which parts landed:
//! - [`EVENTS_FROM_HEADER`]: the events offset the state is complete up to; the committed
//!   events after it that the snapshots lack are folded in (`recovery/catch_up.rs`);
//! - [`TXN_HEADER`] and [`TXN_EVENTS_HEADER`]: the transaction's number (rising, per
//!   partition, across owners) and how many events it wrote; snapshots of a transaction that
//!   wrote events none of which is in the log are set aside (`recovery/unconfirmed.rs`);
//! - [`LETTERS_FROM_HEADER`], on the position: the dead-letter offset from which the letters
//!   written after this position are found, so a poison record whose letter landed without
//!   the position past it is not dead-lettered twice (`recovery/letters.rs`).

use rdkafka::message::{Header, Headers, OwnedHeaders};

/// The events offset before which every event was in the state of the writing transaction.
/// Absent in records written before it existed.
pub const EVENTS_FROM_HEADER: &str = "orderlog-events-from";

/// The writing transaction's number: one more than the partition's previous transaction.
pub const TXN_HEADER: &str = "orderlog-txn";

/// How many events the writing transaction wrote.
pub const TXN_EVENTS_HEADER: &str = "orderlog-txn-events";

/// On the position: the dead-letter offset every letter of a later transaction is at or
/// after.
pub const LETTERS_FROM_HEADER: &str = "orderlog-letters-from";

/// The marks of one record; each `None` when unknown (not written, or unreadable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    pub events_from: Option<i64>,
    pub txn: Option<i64>,
    pub txn_events: Option<i64>,
    pub letters_from: Option<i64>,
}

impl Marks {
    fn named(&self) -> [(&'static str, Option<i64>); 4] {
        [
            (EVENTS_FROM_HEADER, self.events_from),
            (TXN_HEADER, self.txn),
            (TXN_EVENTS_HEADER, self.txn_events),
            (LETTERS_FROM_HEADER, self.letters_from),
        ]
    }

    /// `headers` with every known mark added.
    pub(crate) fn add_to(&self, mut headers: OwnedHeaders) -> OwnedHeaders {
        for (key, value) in self.named() {
            if let Some(value) = value {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.to_string().as_bytes()),
                });
            }
        }
        headers
    }

    /// The marks a record carries: a header that is not a number is no mark (a record is
    /// input, whoever wrote it).
    pub(crate) fn read<H: Headers>(headers: Option<&H>) -> Self {
        let number = |name: &str| {
            let header = headers?.iter().find(|h| h.key == name)?;
            std::str::from_utf8(header.value?).ok()?.parse::<i64>().ok()
        };
        Self {
            events_from: number(EVENTS_FROM_HEADER),
            txn: number(TXN_HEADER),
            txn_events: number(TXN_EVENTS_HEADER),
            letters_from: number(LETTERS_FROM_HEADER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_travel_in_headers_beside_others_and_unknown_ones_stay_unknown() {
        let marks = Marks {
            events_from: Some(1234),
            txn: Some(7),
            txn_events: Some(0),
            letters_from: None,
        };
        let format = OwnedHeaders::new().insert(Header {
            key: "orderlog-snapshot-format",
            value: Some(b"3"),
        });
        let headers = marks.add_to(format);
        assert_eq!(Marks::read(Some(&headers)), marks);
        assert_eq!(headers.count(), 4, "the format and three marks");
        assert_eq!(Marks::read::<OwnedHeaders>(None), Marks::default());
    }

    #[test]
    fn a_mark_that_is_not_a_number_is_no_mark() {
        let garbled = OwnedHeaders::new()
            .insert(Header {
                key: EVENTS_FROM_HEADER,
                value: Some(b"-x"),
            })
            .insert(Header {
                key: TXN_HEADER,
                value: None::<&[u8]>,
            });
        assert_eq!(Marks::read(Some(&garbled)), Marks::default());
    }
}
