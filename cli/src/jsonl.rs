//! The JSON Lines form of an event, written by hand: the attributes are known text and
//! numbers, and the data is already JSON, so a line is mostly copied bytes. Byte for byte
//! what `serde_json` writes for an [`EventRecord`] (the tests hold it to that), at a
//! fraction of the cost: strings are escaped only when they hold a byte that needs it.

use std::io::Write;

use crate::record::EventRecord;

/// Appends `event` and a newline to `out`.
pub fn write_line(event: &EventRecord<'_>, out: &mut Vec<u8>) {
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(b"{\"specversion\":");
    string(out, event.specversion);
    for (name, value) in [
        (&b",\"id\":"[..], event.id),
        (b",\"source\":", event.source),
        (b",\"type\":", event.event_type),
        (b",\"time\":", event.time),
        (b",\"timeutc\":", event.timeutc.as_str()),
        (b",\"subject\":", event.subject),
        (b",\"datacontenttype\":", event.datacontenttype),
    ] {
        out.extend_from_slice(name);
        string(out, value);
    }
    out.extend_from_slice(b",\"orderversion\":");
    out.extend_from_slice(numbers.format(event.orderversion).as_bytes());
    out.extend_from_slice(b",\"schemaversion\":");
    out.extend_from_slice(numbers.format(event.schemaversion).as_bytes());
    out.extend_from_slice(b",\"correlationid\":");
    string(out, event.correlationid);
    out.extend_from_slice(b",\"causationid\":");
    string(out, event.causationid);
    if let Some(traceparent) = event.traceparent {
        out.extend_from_slice(b",\"traceparent\":");
        string(out, traceparent);
    }
    out.extend_from_slice(b",\"partition\":");
    out.extend_from_slice(numbers.format(event.partition).as_bytes());
    out.extend_from_slice(b",\"offset\":");
    out.extend_from_slice(numbers.format(event.offset).as_bytes());
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(event.data.get().as_bytes());
    out.extend_from_slice(b"}\n");
}

/// A JSON string: copied between quotes when nothing in it needs escaping, else through
/// `serde_json`'s escaping.
fn string(out: &mut Vec<u8>, value: &str) {
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

/// Writes `event`'s line to `out`, through `line` (kept between events).
pub fn write_to(
    event: &EventRecord<'_>,
    line: &mut Vec<u8>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    line.clear();
    write_line(event, line);
    out.write_all(line)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use chrono::{TimeZone, Utc};
    use serde_json::value::RawValue;

    use super::*;

    fn record<'a>(text: &'a str, traceparent: Option<&'a str>, data: &'a str) -> EventRecord<'a> {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
            .single()
            .expect("time");
        let raw: &RawValue = serde_json::from_str(data).expect("json");
        let mut event = EventRecord::decode(
            |name| match name {
                "ce_type" => Some(&b"dev.orderlog.order.delivered"[..]),
                "ce_schemaversion" | "ce_orderversion" => Some(&b"1"[..]),
                "ce_time" => Some(&b"2026-11-23T08:00:00Z"[..]),
                _ => Some(text.as_bytes()),
            },
            b"{}",
            7,
            123_456_789_012,
        )
        .expect("decodes");
        event.traceparent = traceparent;
        event.data = Cow::Borrowed(raw);
        event.occurred_at = at;
        event
    }

    #[test]
    fn a_line_is_what_serde_json_writes() {
        for (text, traceparent, data) in [
            ("0193e4f0-7c1a-7000-8000-000000000001", None, "{}"),
            ("plain", Some("00-abc-def-01"), r#"{"a":[1,2,{"b":"c"}]}"#),
            ("quote \" and back\\slash", None, r#"{"x":"\u00e9"}"#),
            ("tab\tnew\nline\u{1}", Some("\u{7f}"), "[]"),
            ("ünïcödé ✓", None, "{\"k\": 1}"),
        ] {
            let event = record(text, traceparent, data);
            let mut expected = serde_json::to_vec(&event).expect("json");
            expected.push(b'\n');
            let mut line = Vec::new();
            write_line(&event, &mut line);
            assert_eq!(
                String::from_utf8(line).expect("utf8"),
                String::from_utf8(expected).expect("utf8"),
                "{text:?}"
            );
        }
    }
}
