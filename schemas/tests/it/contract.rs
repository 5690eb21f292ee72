//! The contract on disk stays true to the code: JSON Schemas, golden fixtures of every
//! event schema version, the event catalog in docs/, and the CloudEvents binding.
//!
//! `ORDERLOG_BLESS=1 cargo test -p schemas` rewrites the generated files (schemas, the
//! catalog, and fixtures for current versions that have none); old fixtures are never
//! rewritten, because they are what old events look like.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use schemas::cloudevents::{self, WireError};
use schemas::event::EVENT_TYPES;
use schemas::values::OrderId;
use schemas::{Event, EventEnvelope};

use crate::support::*;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn blessing() -> bool {
    std::env::var_os("ORDERLOG_BLESS").is_some()
}

/// Compares `actual` with the file at `path`, or writes it when blessing.
fn check_file(path: &Path, actual: &str, drifted: &mut Vec<String>) {
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    if on_disk == actual {
        return;
    }
    if blessing() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, actual).expect("write");
    } else {
        drifted.push(path.display().to_string());
    }
}

fn assert_no_drift(drifted: Vec<String>) {
    assert!(
        drifted.is_empty(),
        "generated files differ from the code; run `ORDERLOG_BLESS=1 cargo test -p schemas` and review:\n{}",
        drifted.join("\n")
    );
}

/// One example of every event type, from a realistic history.
fn examples() -> Vec<Event> {
    let mut events = history(&[
        place_default(),
        add_line("C-3", 3, 100),
        remove_line("B-2"),
        change_address("Paris"),
    ]);
    events.extend(
        history(&[place_default(), pay(eur(1250)), ship(), deliver()])
            .into_iter()
            .skip(1),
    );
    events.extend(history(&[place_default(), cancel()]).into_iter().skip(1));
    // The deadlines: a placed order's window passes; a paid order's promise passes.
    for commands in [vec![place_default()], vec![place_default(), pay(eur(1250))]] {
        let state = schemas::order::fold(&history(&commands)).expect("fold");
        let due = schemas::order::deadline::pending(&state).expect("a deadline");
        events.extend(schemas::order::deadline::fire(&state, due, due.at).expect("fires"));
    }
    events
}

/// Fields a schema version added that older payloads upcast without (a due time the
/// order never had).
const ADDED_OPTIONAL: [(&str, &str); 2] = [
    ("dev.orderlog.order.placed", "payment_due_at"),
    ("dev.orderlog.order.payment_confirmed", "ship_by"),
];

fn fixture_path(type_name: &str, version: u32) -> PathBuf {
    crate_dir().join(format!("fixtures/events/{type_name}/v{version}.json"))
}

fn read_fixture(type_name: &str, version: u32) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(fixture_path(type_name, version)).ok()?;
    Some(serde_json::from_str(&text).expect("fixture is JSON"))
}

#[test]
fn json_schemas_match_the_types() {
    let mut drifted = Vec::new();
    for file in schemas::json_schema::all() {
        let text = serde_json::to_string_pretty(&file.schema).expect("json") + "\n";
        check_file(
            &crate_dir().join("json").join(&file.path),
            &text,
            &mut drifted,
        );
    }
    assert_no_drift(drifted);
}

#[test]
fn every_current_event_version_has_a_golden_fixture_and_it_decodes() {
    let mut drifted = Vec::new();
    let examples = examples();
    for (type_name, version) in EVENT_TYPES {
        let example = examples
            .iter()
            .find(|e| e.type_name() == type_name)
            .expect("an example of every type");
        if blessing() && read_fixture(type_name, version).is_none() {
            let text = serde_json::to_string_pretty(&example.to_payload()).expect("json") + "\n";
            check_file(&fixture_path(type_name, version), &text, &mut drifted);
        }
        let fixture = read_fixture(type_name, version).unwrap_or_else(|| {
            panic!("no golden fixture for {type_name} v{version}; bless to create it")
        });
        let decoded = Event::from_payload(type_name, version, fixture.clone())
            .expect("current fixture decodes");
        let bytes = serde_json::to_vec(&fixture).expect("json");
        assert_eq!(
            Event::from_payload_json(type_name, version, &bytes).as_ref(),
            Ok(&decoded),
            "{type_name} v{version} reads the same from bytes"
        );
        assert_eq!(
            decoded.to_payload(),
            fixture,
            "{type_name} v{version} reads and writes back the same payload"
        );
    }
    assert_no_drift(drifted);
}

#[test]
fn every_old_fixture_upcasts_to_what_the_current_fixture_says() {
    let mut checked = 0;
    for (type_name, current) in EVENT_TYPES {
        let expected = read_fixture(type_name, current).expect("current fixture");
        for version in 1..current {
            let old = read_fixture(type_name, version).unwrap_or_else(|| {
                panic!("the golden fixture for {type_name} v{version} must stay")
            });
            let bytes = serde_json::to_vec(&old).expect("json");
            let upcast = Event::from_payload(type_name, version, old).expect("old fixture decodes");
            assert_eq!(
                Event::from_payload_json(type_name, version, &bytes).as_ref(),
                Ok(&upcast),
                "{type_name} v{version} reads the same from bytes"
            );
            let upcast = upcast.to_payload();
            let mut expected = expected.clone();
            for (added_to, field) in ADDED_OPTIONAL {
                if added_to == type_name && upcast.get(field).is_none() {
                    expected.as_object_mut().expect("an object").remove(field);
                }
            }
            assert_eq!(
                upcast, expected,
                "{type_name} v{version} upcasts to v{current}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "at least one old schema version is exercised");
}

#[test]
fn unknown_types_and_versions_are_refused_clearly() {
    let error = Event::from_payload("dev.orderlog.order.teleported", 1, serde_json::json!({}))
        .expect_err("unknown type");
    assert_eq!(
        error.to_string(),
        "unknown event type dev.orderlog.order.teleported"
    );
    let error = Event::from_payload("dev.orderlog.order.placed", 9, serde_json::json!({}))
        .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "event type dev.orderlog.order.placed has no schema version 9"
    );
    let error = Event::from_payload(
        "dev.orderlog.order.shipped",
        1,
        serde_json::json!({"carrier": "DHL"}),
    )
    .expect_err("incomplete payload");
    assert!(
        error
            .to_string()
            .contains("missing field `tracking_number`"),
        "{error}"
    );
}

fn envelope(event: Event) -> EventEnvelope {
    EventEnvelope {
        event_id: uuid::Uuid::now_v7(),
        order_id: OrderId::generate(),
        order_version: 7,
        occurred_at: chrono::Utc::now(),
        correlation_id: uuid::Uuid::now_v7(),
        causation_id: uuid::Uuid::now_v7(),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
        event,
    }
}

#[test]
fn cloudevents_binary_mode_round_trips() {
    for event in examples() {
        let original = envelope(event);
        let record = cloudevents::encode(&original);
        assert_eq!(record.key, original.order_id.to_string());
        let header = |name: &str| {
            record
                .headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_bytes())
        };
        assert_eq!(
            header("ce_type"),
            Some(original.event.type_name().as_bytes())
        );
        assert_eq!(header("ce_subject"), Some(record.key.as_bytes()));
        assert_eq!(header("content-type"), Some("application/json".as_bytes()));
        // The value is the payload as JSON, readable without this code.
        let value: serde_json::Value = serde_json::from_slice(&record.value).expect("json value");
        assert_eq!(value, original.event.to_payload());

        let mut decoded = cloudevents::decode(header, &record.value).expect("decodes");
        // ce_time carries microseconds.
        assert_eq!(
            decoded.occurred_at.timestamp_micros(),
            original.occurred_at.timestamp_micros()
        );
        decoded.occurred_at = original.occurred_at;
        assert_eq!(decoded, original);
    }
}

#[test]
fn a_record_without_its_headers_is_refused() {
    let record = cloudevents::encode(&envelope(examples().remove(0)));
    let without = |missing: &'static str| {
        let headers = record.headers.clone();
        move |name: &str| -> Option<&'static [u8]> {
            if name == missing {
                return None;
            }
            let value = headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())?;
            Some(Box::leak(value.into_bytes().into_boxed_slice()))
        }
    };
    for name in [
        "ce_type",
        "ce_subject",
        "ce_orderversion",
        "ce_schemaversion",
        "ce_time",
        "ce_id",
    ] {
        assert_eq!(
            cloudevents::decode(without(name), &record.value),
            Err(WireError::MissingHeader(name))
        );
    }
}

/// docs/events.md: the event catalog, generated from the types, schemas and fixtures.
fn catalog() -> String {
    let mut doc = String::from(
        "# Event catalog\n\n\
         <!-- Generated by `schemas/tests/it/contract.rs`; do not edit by hand. \
         Regenerate with `ORDERLOG_BLESS=1 cargo test -p schemas`. -->\n\n\
         Every event orderlog writes to the events topic, in lifecycle order. On the wire each is a\n\
         CloudEvent in Kafka binary mode: metadata in `ce_*` headers (see\n\
         [architecture: events on the wire](architecture.md#events-on-the-wire)), the payload below as\n\
         the JSON value, the order id as the key. `ce_schemaversion` says which version of the\n\
         payload schema the value follows; older versions stay readable through upcasters, with a\n\
         golden fixture per version under `schemas/fixtures/events/`.\n\n\
         Money is always `{\"amount_minor\": <integer>, \"currency\": \"<ISO 4217>\"}`: integer minor units, never floats.\n\n\
         | Type | Schema version | Fact |\n| --- | --- | --- |\n",
    );
    let schemas = schemas::json_schema::event_schemas();
    let description = |schema: &schemars::Schema| {
        schema
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .replace('\n', " ")
    };
    for (name, version, schema) in &schemas {
        let _ = writeln!(
            doc,
            "| [`{name}`](#{}) | {version} | {} |",
            name.replace('.', ""),
            description(schema)
        );
    }
    for (name, version, schema) in &schemas {
        let _ = write!(doc, "\n## `{name}`\n\n{}\n\n", description(schema));
        let _ = writeln!(
            doc,
            "Schema version {version}: [`schemas/json/events/{name}.v{version}.json`](../schemas/json/events/{name}.v{version}.json)\n"
        );
        doc.push_str("| Field | Type | Required | Description |\n| --- | --- | --- | --- |\n");
        let required: Vec<&str> = schema
            .get("required")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
            for (field, spec) in properties {
                let kind = spec
                    .get("$ref")
                    .and_then(|r| r.as_str())
                    .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned())
                    .or_else(|| spec.get("type").map(|t| t.to_string().replace('"', "")))
                    .unwrap_or_else(|| "see schema".to_owned());
                let text = spec
                    .get("description")
                    .and_then(|d| d.as_str())
                    .unwrap_or("")
                    .replace('\n', " ");
                let _ = writeln!(
                    doc,
                    "| `{field}` | {kind} | {} | {text} |",
                    if required.contains(&field.as_str()) {
                        "yes"
                    } else {
                        "no"
                    }
                );
            }
        }
        if let Some(example) = read_fixture(name, *version) {
            let _ = write!(
                doc,
                "\nExample payload:\n\n```json\n{}\n```\n",
                serde_json::to_string_pretty(&example).expect("json")
            );
        }
        for old in 1..*version {
            let _ = writeln!(
                doc,
                "\nVersion {old} is upcast on read; its golden fixture: `schemas/fixtures/events/{name}/v{old}.json`."
            );
        }
    }
    doc
}

#[test]
fn the_event_catalog_in_docs_is_current() {
    let mut drifted = Vec::new();
    check_file(
        &crate_dir().join("../docs/events.md"),
        &catalog(),
        &mut drifted,
    );
    assert_no_drift(drifted);
}

#[test]
fn payload_bytes_that_are_not_json_or_not_the_schema_are_told_apart() {
    use schemas::event::PayloadError;
    let not_json = Event::from_payload_json("dev.orderlog.order.delivered", 1, b"{\"delivered")
        .expect_err("not json");
    assert!(matches!(not_json, PayloadError::NotJson(_)), "{not_json:?}");
    let trailing = Event::from_payload_json("dev.orderlog.order.delivered", 1, b"{} {}")
        .expect_err("trailing characters");
    assert!(matches!(trailing, PayloadError::NotJson(_)), "{trailing:?}");
    let wrong = Event::from_payload_json("dev.orderlog.order.placed", 1, br#"{"customer_id": 7}"#)
        .expect_err("not the schema");
    assert!(
        wrong
            .to_string()
            .starts_with("dev.orderlog.order.placed payload does not match its schema"),
        "{wrong}"
    );
    let unknown = Event::from_payload_json("dev.orderlog.order.teleported", 1, b"{}")
        .expect_err("unknown type");
    assert_eq!(
        unknown.to_string(),
        "unknown event type dev.orderlog.order.teleported"
    );
}
