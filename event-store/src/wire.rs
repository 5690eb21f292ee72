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

/// A message's headers, read out of librdkafka once, for lookups by name (each lookup
/// through rdkafka crosses into C and scans every header).
pub struct HeaderView<'a> {
    headers: Vec<(&'a str, &'a [u8])>,
}

impl<'a> HeaderView<'a> {
    pub fn of(message: &'a BorrowedMessage<'_>) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .filter_map(|h| Some((h.key, h.value?)))
                    .collect()
            })
            .unwrap_or_default();
        Self { headers }
    }

    /// The value of the first header named `name`.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    }

    /// Every header with a value, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.headers.iter().copied()
    }

    /// The value of the first header named `name`, if it is UTF-8.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Reads an event written in the CloudEvents binary mode.
pub fn decode_event(message: &BorrowedMessage<'_>) -> Result<EventEnvelope, WireError> {
    let headers = HeaderView::of(message);
    cloudevents::decode(
        |name| headers.get(name),
        message.payload().unwrap_or_default(),
    )
}
