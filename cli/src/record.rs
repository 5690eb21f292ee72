//! One event as an analyst sees it: the CloudEvents attributes, where it sits in Kafka, and
//! its data as JSON (upcast to the current schema version, so one type has one shape).
//! Built from a record's headers and value without this crate knowing Kafka.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use schemas::event::{EVENT_TYPES, Event};
use serde::Serialize;
use serde_json::value::RawValue;

/// The JSON Lines form: CloudEvents attribute names (the JSON event format), with the
/// platform's extensions and the Kafka position.
#[derive(Debug, Serialize)]
pub struct EventRecord<'a> {
    pub specversion: &'static str,
    pub id: &'a str,
    pub source: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub time: &'a str,
    /// The same instant as `time`, in UTC as `YYYY-MM-DD HH:MM:SS.ffffff`: the form DuckDB,
    /// pandas and spreadsheets type as a timestamp by themselves.
    pub timeutc: Stamp,
    #[serde(skip)]
    pub occurred_at: DateTime<Utc>,
    pub subject: &'a str,
    pub datacontenttype: &'static str,
    pub orderversion: u64,
    pub schemaversion: u32,
    pub correlationid: &'a str,
    pub causationid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<&'a str>,
    pub partition: i32,
    pub offset: i64,
    pub data: Cow<'a, RawValue>,
}

/// The CSV columns, in order. Stable: new columns are only ever added at the end.
pub const CSV_COLUMNS: [&str; 11] = [
    "time",
    "type",
    "order_id",
    "order_version",
    "event_id",
    "correlation_id",
    "causation_id",
    "schema_version",
    "partition",
    "offset",
    "data",
];

impl<'a> EventRecord<'a> {
    /// Reads a record in the CloudEvents binary mode. `header` looks a header up by name.
    pub fn decode(
        header: impl Fn(&str) -> Option<&'a [u8]>,
        value: &'a [u8],
        partition: i32,
        offset: i64,
    ) -> Result<Self, String> {
        let text = |name: &'static str| -> Result<&'a str, String> {
            let bytes = header(name).ok_or_else(|| format!("header {name} is missing"))?;
            std::str::from_utf8(bytes).map_err(|_| format!("header {name} is not UTF-8"))
        };
        let number = |name: &'static str| -> Result<u64, String> {
            text(name)?
                .parse()
                .map_err(|_| format!("header {name} is not a number"))
        };
        let event_type = text("ce_type")?;
        let schemaversion = u32::try_from(number("ce_schemaversion")?)
            .map_err(|_| "header ce_schemaversion is too large")?;
        let current = EVENT_TYPES
            .iter()
            .find(|(t, _)| *t == event_type)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("unknown event type {event_type}"))?;
        let time = text("ce_time")?;
        let occurred_at = DateTime::parse_from_rfc3339(time)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("header ce_time `{time}` is not RFC 3339"))?;
        let raw = std::str::from_utf8(value).map_err(|_| "the value is not UTF-8".to_owned())?;
        let data: Cow<'a, RawValue> = if schemaversion == current {
            let raw: &'a RawValue =
                serde_json::from_str(raw).map_err(|e| format!("the value is not JSON: {e}"))?;
            Cow::Borrowed(raw)
        } else {
            let payload =
                serde_json::from_str(raw).map_err(|e| format!("the value is not JSON: {e}"))?;
            let event = Event::from_payload(event_type, schemaversion, payload)
                .map_err(|e| e.to_string())?;
            let upcast = serde_json::to_string(&event.to_payload()).map_err(|e| e.to_string())?;
            Cow::Owned(RawValue::from_string(upcast).map_err(|e| e.to_string())?)
        };
        Ok(Self {
            specversion: "1.0",
            id: text("ce_id")?,
            source: text("ce_source")?,
            event_type,
            time,
            timeutc: timeutc(&occurred_at),
            occurred_at,
            subject: text("ce_subject")?,
            datacontenttype: "application/json",
            orderversion: number("ce_orderversion")?,
            schemaversion: current,
            correlationid: text("ce_correlationid")?,
            causationid: text("ce_causationid")?,
            traceparent: header("traceparent").and_then(|v| std::str::from_utf8(v).ok()),
            partition,
            offset,
            data,
        })
    }

    /// The values of [`CSV_COLUMNS`]; `time` is UTC as `YYYY-MM-DD HH:MM:SS.ffffff`.
    pub fn csv_row(&self) -> [Cow<'_, str>; 11] {
        [
            Cow::Borrowed(self.timeutc.as_str()),
            Cow::Borrowed(self.event_type),
            Cow::Borrowed(self.subject),
            Cow::Owned(self.orderversion.to_string()),
            Cow::Borrowed(self.id),
            Cow::Borrowed(self.correlationid),
            Cow::Borrowed(self.causationid),
            Cow::Owned(self.schemaversion.to_string()),
            Cow::Owned(self.partition.to_string()),
            Cow::Owned(self.offset.to_string()),
            Cow::Borrowed(self.data.get()),
        ]
    }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, the form DuckDB reads as a TIMESTAMP, kept in
/// place (no allocation per event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp([u8; 26]);

impl Stamp {
    pub fn as_str(&self) -> &str {
        // Digits and separators: ASCII by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Written by hand: chrono's `format` parses its pattern again for every event.
fn timeutc(at: &DateTime<Utc>) -> Stamp {
    use chrono::{Datelike, Timelike};
    let mut out = *b"0000-00-00 00:00:00.000000";
    let mut put = |at: usize, width: usize, value: u32| {
        let mut value = value;
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, u32::try_from(at.year()).unwrap_or(0).min(9999));
    put(5, 2, at.month());
    put(8, 2, at.day());
    put(11, 2, at.hour());
    put(14, 2, at.minute());
    put(17, 2, at.second());
    put(20, 6, at.nanosecond() % 1_000_000_000 / 1_000);
    Stamp(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use schemas::cloudevents::{self, WireRecord};
    use schemas::envelope::EventEnvelope;
    use schemas::event::{OrderDelivered, PaymentConfirmed};
    use schemas::values::{Currency, Money, OrderId, PaymentReference};
    use uuid::Uuid;

    use super::*;

    fn wire(event: Event) -> WireRecord {
        cloudevents::encode(&EventEnvelope {
            event_id: Uuid::now_v7(),
            order_id: OrderId::generate(),
            order_version: 2,
            occurred_at: Utc
                .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
                .single()
                .expect("time"),
            correlation_id: Uuid::now_v7(),
            causation_id: Uuid::now_v7(),
            traceparent: None,
            event,
        })
    }

    fn header<'a>(record: &'a WireRecord) -> impl Fn(&str) -> Option<&'a [u8]> {
        |name| {
            record
                .headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_bytes())
        }
    }

    #[test]
    fn a_current_event_keeps_its_payload_as_json() {
        let record = wire(Event::OrderDelivered(OrderDelivered {}));
        let event = EventRecord::decode(header(&record), &record.value, 1, 42).expect("decodes");
        let line: serde_json::Value = serde_json::to_value(&event).expect("json");
        assert_eq!(line["type"], "dev.orderlog.order.delivered");
        assert_eq!(line["specversion"], "1.0");
        assert_eq!(line["orderversion"], 2);
        assert_eq!(line["partition"], 1);
        assert_eq!(line["offset"], 42);
        assert_eq!(line["data"], serde_json::json!({}));
        assert!(line.get("traceparent").is_none());
        assert_eq!(
            event.occurred_at,
            Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
                .single()
                .expect("time")
        );
        assert_eq!(event.csv_row().len(), CSV_COLUMNS.len());
        assert_eq!(event.csv_row()[1], "dev.orderlog.order.delivered");
        assert_eq!(event.csv_row()[0], "2026-11-23 08:00:00.000000");
        assert_eq!(line["timeutc"], "2026-11-23 08:00:00.000000");
    }

    #[test]
    fn an_old_schema_version_is_upcast() {
        let paid = Event::PaymentConfirmed(PaymentConfirmed {
            payment_reference: PaymentReference::parse("pay-1").expect("ref"),
            amount: Money::new(1500, Currency::parse("EUR").expect("currency")).expect("money"),
            ship_by: None,
        });
        let mut record = wire(paid.clone());
        // Rewrite it as version 1 of the schema, as an old processor wrote it.
        let v1 =
            serde_json::json!({ "reference": "pay-1", "amount_minor": 1500, "currency": "EUR" });
        record.value = serde_json::to_vec(&v1).expect("json");
        for (name, value) in &mut record.headers {
            if *name == "ce_schemaversion" {
                *value = "1".to_owned();
            }
        }
        let event = EventRecord::decode(header(&record), &record.value, 0, 0).expect("decodes");
        assert_eq!(event.schemaversion, 3);
        let data: serde_json::Value = serde_json::from_str(event.data.get()).expect("json");
        assert_eq!(data, paid.to_payload());
    }

    #[test]
    fn a_broken_record_says_what_is_wrong() {
        let record = wire(Event::OrderDelivered(OrderDelivered {}));
        let no_type = |name: &str| {
            if name == "ce_type" {
                None
            } else {
                header(&record)(name)
            }
        };
        assert_eq!(
            EventRecord::decode(no_type, &record.value, 0, 0).expect_err("bad"),
            "header ce_type is missing"
        );
        let odd = |name: &str| {
            if name == "ce_type" {
                Some(&b"dev.orderlog.order.teleported"[..])
            } else {
                header(&record)(name)
            }
        };
        assert!(
            EventRecord::decode(odd, &record.value, 0, 0)
                .expect_err("bad")
                .starts_with("unknown event type")
        );
        assert!(
            EventRecord::decode(header(&record), b"{nope", 0, 0)
                .expect_err("bad")
                .starts_with("the value is not JSON")
        );
    }

    #[test]
    fn timeutc_is_what_chrono_would_format() {
        for text in [
            "2026-01-02T03:04:05.000007Z",
            "1999-12-31T23:59:59.999999Z",
            "2026-11-23T00:00:00Z",
            "2026-06-30T12:34:56.5+02:00",
        ] {
            let at = DateTime::parse_from_rfc3339(text)
                .expect("rfc 3339")
                .with_timezone(&Utc);
            assert_eq!(
                super::timeutc(&at).as_str(),
                at.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                "{text}"
            );
        }
    }
}
