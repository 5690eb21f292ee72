//! Moving CloudEvents records (see [`schemas::cloudevents`]) to and from rdkafka types.

use rdkafka::message::{BorrowedMessage, Headers, Message, OwnedHeaders};
use schemas::EventEnvelope;
use schemas::cloudevents::{self, WireError, WireRecord};

/// The record's headers as rdkafka headers.
pub fn headers(record: &WireRecord) -> OwnedHeaders {
    record.headers.iter().fold(
        OwnedHeaders::new_with_capacity(record.headers.len()),
        |headers, (key, value)| {
            headers.insert(rdkafka::message::Header {
                key,
                value: Some(value.as_bytes()),
            })
        },
    )
}

/// The value of the first header named `name`.
pub fn header<'a>(message: &'a BorrowedMessage<'_>, name: &str) -> Option<&'a [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

/// Reads an event written in the CloudEvents binary mode.
pub fn decode_event(message: &BorrowedMessage<'_>) -> Result<EventEnvelope, WireError> {
    // The headers are read out of librdkafka once; the decoder looks up about ten names.
    let headers: Vec<(&str, &[u8])> = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .filter_map(|h| Some((h.key, h.value?)))
                .collect()
        })
        .unwrap_or_default();
    cloudevents::decode(
        |name| {
            headers
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        },
        message.payload().unwrap_or_default(),
    )
}
