//! The CloudEvents Kafka protocol binding, binary content mode, as plain data: the record
//! key, headers and value for an [`EventEnvelope`], and back. The event-store crate moves
//! these bytes to and from Kafka; any Kafka client can read them without this code.
//!
//! | header | value |
//! | --- | --- |
//! | `ce_specversion` | `1.0` |
//! | `ce_id` | event id (UUIDv7) |
//! | `ce_source` | [`SOURCE`] |
//! | `ce_type` | event type, such as `dev.orderlog.order.placed` |
//! | `ce_time` | when it happened, RFC 3339 UTC |
//! | `ce_subject` | order id (also the record key) |
//! | `ce_orderversion` | order version after this event |
//! | `ce_correlationid`, `ce_causationid` | correlation id, causing command id |
//! | `ce_schemaversion` | schema version of the payload |
//! | `content-type` | `application/json` |
//! | `traceparent` | W3C trace context, when present |

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::envelope::EventEnvelope;
use crate::event::{DecodeError, Event, PayloadError};
use crate::values::OrderId;

/// The `ce_source` of every event orderlog writes.
pub const SOURCE: &str = "urn:orderlog:command-processor";
pub const CONTENT_TYPE: &str = "application/json";

/// A Kafka record in the CloudEvents binary mode, independent of any Kafka client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    pub key: String,
    pub headers: Vec<(&'static str, String)>,
    pub value: Vec<u8>,
}

pub fn encode(envelope: &EventEnvelope) -> WireRecord {
    let mut headers = vec![
        ("ce_specversion", "1.0".to_owned()),
        ("ce_id", envelope.event_id.to_string()),
        ("ce_source", SOURCE.to_owned()),
        ("ce_type", envelope.event.type_name().to_owned()),
        (
            "ce_time",
            envelope
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
        ),
        ("ce_subject", envelope.order_id.to_string()),
        ("ce_orderversion", envelope.order_version.to_string()),
        ("ce_correlationid", envelope.correlation_id.to_string()),
        ("ce_causationid", envelope.causation_id.to_string()),
        (
            "ce_schemaversion",
            envelope.event.schema_version().to_string(),
        ),
        ("content-type", CONTENT_TYPE.to_owned()),
    ];
    if let Some(traceparent) = &envelope.traceparent {
        headers.push(("traceparent", traceparent.clone()));
    }
    WireRecord {
        key: envelope.order_id.to_string(),
        headers,
        value: envelope.event.to_payload_json(),
    }
}

/// Reads an event record. `header` looks a header's value up by name.
pub fn decode<'a>(
    header: impl Fn(&str) -> Option<&'a [u8]>,
    value: &[u8],
) -> Result<EventEnvelope, WireError> {
    let text = |name: &'static str| -> Result<&'a str, WireError> {
        let bytes = header(name).ok_or(WireError::MissingHeader(name))?;
        std::str::from_utf8(bytes).map_err(|_| WireError::InvalidHeader(name))
    };
    let uuid = |name| {
        text(name).and_then(|v| Uuid::parse_str(v).map_err(|_| WireError::InvalidHeader(name)))
    };
    let number = |name| {
        text(name).and_then(|v| v.parse::<u64>().map_err(|_| WireError::InvalidHeader(name)))
    };

    if text("ce_specversion")? != "1.0" {
        return Err(WireError::InvalidHeader("ce_specversion"));
    }
    let type_name = text("ce_type")?;
    let schema_version = u32::try_from(number("ce_schemaversion")?)
        .map_err(|_| WireError::InvalidHeader("ce_schemaversion"))?;
    let occurred_at = DateTime::parse_from_rfc3339(text("ce_time")?)
        .map_err(|_| WireError::InvalidHeader("ce_time"))?
        .with_timezone(&Utc);
    let order_id =
        OrderId::parse(text("ce_subject")?).map_err(|_| WireError::InvalidHeader("ce_subject"))?;
    Ok(EventEnvelope {
        event_id: uuid("ce_id")?,
        order_id,
        order_version: number("ce_orderversion")?,
        occurred_at,
        correlation_id: uuid("ce_correlationid")?,
        causation_id: uuid("ce_causationid")?,
        traceparent: header("traceparent")
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned),
        event: Event::from_payload_json(type_name, schema_version, value).map_err(|error| {
            match error {
                PayloadError::NotJson(reason) => WireError::InvalidJson(reason),
                PayloadError::Decode(error) => WireError::Payload(error),
            }
        })?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("header {0} has an invalid value")]
    InvalidHeader(&'static str),
    #[error("the value is not JSON: {0}")]
    InvalidJson(String),
    #[error(transparent)]
    Payload(#[from] DecodeError),
}
