//! Every record on the commands topic is input, whoever wrote it: before a command reaches
//! a decision it must be a readable envelope of a sane size, keyed to an order of the
//! partition it was found in. What fails goes to the dead-letter topic with its reason and
//! origin, in the same transaction as the partition's position, and the partition goes on.

use event_store::partitioner::partition_of;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use schemas::CommandEnvelope;

/// The largest command accepted: far above any the HTTP tier sends (its bodies are
/// bounded), far below a Kafka record's limit.
pub(crate) const MAX_COMMAND_BYTES: usize = 256 * 1024;
/// The largest value copied into a dead letter; a larger record is dead-lettered by
/// reference (its origin and the reason, no value), so the dead letter always fits.
pub(crate) const MAX_COPIED_BYTES: usize = 512 * 1024;

/// Why a command record cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unusable {
    #[error("empty record")]
    Empty,
    #[error("{0} bytes, above the {MAX_COMMAND_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not a command envelope: {0}")]
    Malformed(String),
    #[error("order {order} belongs to partition {expected}, not {found}")]
    WrongPartition {
        order: String,
        expected: i32,
        found: i32,
    },
}

impl Unusable {
    /// A bounded metric label.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Unusable::Empty => "empty",
            Unusable::TooLarge(_) => "too_large",
            Unusable::Malformed(_) => "malformed",
            Unusable::WrongPartition { .. } => "wrong_partition",
        }
    }
}

/// The command a record holds, checked.
pub(crate) fn command(
    message: &OwnedMessage,
    partitions: i32,
) -> Result<CommandEnvelope, Unusable> {
    let payload = message
        .payload()
        .filter(|p| !p.is_empty())
        .ok_or(Unusable::Empty)?;
    if payload.len() > MAX_COMMAND_BYTES {
        return Err(Unusable::TooLarge(payload.len()));
    }
    let mut envelope: CommandEnvelope =
        serde_json::from_slice(payload).map_err(|e| Unusable::Malformed(e.to_string()))?;
    // Received when the platform held it: a command the HTTP tier (or a client) took a
    // while to produce counts from when Kafka appended it (`lanes/stream_time.rs`).
    if let rdkafka::Timestamp::LogAppendTime(millis) = message.timestamp()
        && let Some(appended) = chrono::DateTime::from_timestamp_millis(millis)
    {
        envelope.issued_at = envelope.issued_at.max(appended);
    }
    let order = envelope.order_id.to_string();
    let expected = partition_of(order.as_bytes(), partitions);
    if expected != message.partition() {
        return Err(Unusable::WrongPartition {
            order,
            expected,
            found: message.partition(),
        });
    }
    Ok(envelope)
}

/// A dead letter's key, value and headers.
pub(crate) type DeadLetter = (Option<Vec<u8>>, Option<Vec<u8>>, OwnedHeaders);

/// The dead letter of an unusable record (of any topic): its key, value and headers when
/// small enough, with the reason and origin added.
pub(crate) fn dead_letter(message: &impl Message, reason: &dyn std::fmt::Display) -> DeadLetter {
    let copied = message.payload().map_or(0, <[u8]>::len) + message.key().map_or(0, <[u8]>::len)
        <= MAX_COPIED_BYTES;
    let (partition, offset, reason) = (
        message.partition().to_string(),
        message.offset().to_string(),
        reason.to_string(),
    );
    let ours = [
        ("orderlog_error", reason.as_str()),
        ("orderlog_source_topic", message.topic()),
        ("orderlog_source_partition", partition.as_str()),
        ("orderlog_source_offset", offset.as_str()),
        ("orderlog_copy", if copied { "full" } else { "reference" }),
    ];
    let mut headers = OwnedHeaders::new();
    if copied && let Some(original) = message.headers() {
        for header in original.iter() {
            headers = headers.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    for (key, value) in ours {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    if copied {
        (
            message.key().map(<[u8]>::to_vec),
            message.payload().map(<[u8]>::to_vec),
            headers,
        )
    } else {
        (None, None, headers)
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use schemas::values::OrderId;

    use super::*;

    fn record(partition: i32, value: Vec<u8>) -> OwnedMessage {
        OwnedMessage::new(
            Some(value),
            None,
            "commands".into(),
            Timestamp::NotAvailable,
            partition,
            7,
            None,
        )
    }

    fn envelope_for(order: OrderId) -> Vec<u8> {
        let envelope = CommandEnvelope {
            command_id: uuid::Uuid::now_v7(),
            order_id: order,
            expected_version: None,
            correlation_id: uuid::Uuid::now_v7(),
            issued_at: chrono::Utc::now(),
            fingerprint: String::new(),
            traceparent: None,
            acting_for: None,
            command: schemas::Command::DeliverOrder(Default::default()),
        };
        serde_json::to_vec(&envelope).expect("json")
    }

    #[test]
    fn a_command_must_be_sane_readable_and_in_its_orders_partition() {
        let order = OrderId::generate();
        let home = partition_of(order.to_string().as_bytes(), 6);
        assert!(command(&record(home, envelope_for(order)), 6).is_ok());
        assert!(matches!(
            command(&record((home + 1) % 6, envelope_for(order)), 6),
            Err(Unusable::WrongPartition { .. })
        ));
        assert_eq!(
            command(&record(home, vec![]), 6).expect_err("empty"),
            Unusable::Empty
        );
        assert!(matches!(
            command(&record(home, b"{".to_vec()), 6),
            Err(Unusable::Malformed(_))
        ));
        let huge = vec![b' '; MAX_COMMAND_BYTES + 1];
        assert_eq!(
            command(&record(home, huge), 6).expect_err("too large"),
            Unusable::TooLarge(MAX_COMMAND_BYTES + 1)
        );
    }

    #[test]
    fn a_record_too_large_to_copy_is_dead_lettered_by_reference() {
        let huge = record(0, vec![b'x'; MAX_COPIED_BYTES + 1]);
        let (key, value, headers) = dead_letter(&huge, &Unusable::TooLarge(MAX_COPIED_BYTES + 1));
        assert_eq!((key, value), (None, None));
        let copy = headers
            .iter()
            .find(|h| h.key == "orderlog_copy")
            .and_then(|h| h.value);
        assert_eq!(copy, Some(&b"reference"[..]));
        let offset = headers
            .iter()
            .find(|h| h.key == "orderlog_source_offset")
            .and_then(|h| h.value);
        assert_eq!(offset, Some(&b"7"[..]));
        let small = record(0, b"{".to_vec());
        let (_, value, _) = dead_letter(&small, &Unusable::Malformed("eof".into()));
        assert_eq!(value, Some(b"{".to_vec()));
    }
}
