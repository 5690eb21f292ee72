//! Every event type through its dataset into Parquet files and back, at current and older
//! schema versions (no Kafka: the rows come from the schemas' golden fixtures).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{TimeZone, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use schemas::EventEnvelope;
use schemas::event::{EVENT_TYPES, Event};
use schemas::values::OrderId;
use uuid::Uuid;

use super::batches::{Batches, Layout};
use super::datasets::{Row, short_name};
use super::files::{Files, Limits, Written};

fn fixture(event_type: &str, version: u32) -> Event {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/fixtures/events")
        .join(event_type)
        .join(format!("v{version}.json"));
    let json = std::fs::read(&path).expect("fixture");
    Event::from_payload_json(event_type, version, &json).expect("fixture decodes")
}

fn envelope(event: Event, day: u32, version: u64) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::new_v4(),
        order_id: OrderId::generate(),
        order_version: version,
        occurred_at: Utc
            .with_ymd_and_hms(2026, 11, day, 12, 0, 0)
            .single()
            .expect("time"),
        correlation_id: Uuid::new_v4(),
        causation_id: Uuid::new_v4(),
        traceparent: None,
        event,
    }
}

fn write(layout: Layout, envelopes: &[EventEnvelope]) -> (PathBuf, Vec<Written>) {
    let staging = std::env::temp_dir().join(format!("orderlog-export-{}", Uuid::new_v4().simple()));
    let mut files = Files::new(&staging, "run", Limits::default());
    let mut batches = Batches::new(layout);
    for (offset, envelope) in envelopes.iter().enumerate() {
        let row = Row {
            envelope,
            customer: Some("cust-1"),
            partition: 0,
            offset: i64::try_from(offset).expect("offset"),
        };
        batches.add(&row, &mut files).expect("added");
    }
    batches.finish(&mut files).expect("flushed");
    (staging.clone(), files.finish().expect("files"))
}

fn read(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).expect("file"))
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

#[test]
fn every_event_type_is_written_to_its_dataset_and_the_envelope() {
    let envelopes: Vec<EventEnvelope> = EVENT_TYPES
        .iter()
        .map(|(t, v)| envelope(fixture(t, *v), 1 + (*v % 2), 1))
        .collect();
    let (staging, written) = write(Layout::new(None), &envelopes);
    let rows = |dataset: &str| -> u64 {
        written
            .iter()
            .filter(|w| w.dataset == dataset)
            .map(|w| w.rows)
            .sum()
    };
    assert_eq!(rows("envelope"), EVENT_TYPES.len() as u64);
    for (t, _) in EVENT_TYPES {
        assert_eq!(rows(short_name(t)), 1, "{t}");
    }
    let placed = written
        .iter()
        .find(|w| w.dataset == "placed")
        .expect("placed file");
    assert!(
        placed.path.starts_with("placed/date=2026-11-"),
        "{}",
        placed.path
    );
    assert_eq!(placed.schema_version, 2);
    let batch = &read(&staging.join(&placed.path))[0];
    let schema = batch.schema();
    for name in [
        "customer_id",
        "lines",
        "shipping_address",
        "order_total_minor",
        "payment_due_at",
    ] {
        assert!(schema.field_with_name(name).is_ok(), "{name} in {schema}");
    }
    let time = batch
        .column_by_name("time")
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
        .expect("time in microseconds");
    assert_eq!(time.timezone(), Some("UTC"));
    let customers = batch
        .column_by_name("customer_id")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .expect("customer");
    assert_eq!(customers.value(0), "cust-1");
    let _ = std::fs::remove_dir_all(staging);
}

#[test]
fn a_dataset_written_at_an_older_version_lacks_only_the_later_columns() {
    let placed = envelope(fixture("dev.orderlog.order.placed", 2), 3, 1);
    let (staging, written) = write(
        Layout::new(None).at_version("placed", 1),
        std::slice::from_ref(&placed),
    );
    let file = written
        .iter()
        .find(|w| w.dataset == "placed")
        .expect("file");
    assert_eq!(file.schema_version, 1);
    let old = read(&staging.join(&file.path))[0].schema();
    let (current, _) = write(Layout::new(None), &[placed]);
    let new_file = std::fs::read_dir(current.join("placed/date=2026-11-03"))
        .expect("dir")
        .next()
        .expect("a file")
        .expect("entry")
        .path();
    let new = read(&new_file)[0].schema();
    let added: Vec<&str> = new
        .fields()
        .iter()
        .filter(|f| old.field_with_name(f.name()).is_err())
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(added, ["payment_due_at"]);
    assert_eq!(old.fields().len() + 1, new.fields().len());
    let _ = std::fs::remove_dir_all(staging);
    let _ = std::fs::remove_dir_all(current);
}

#[test]
fn only_the_selected_types_have_datasets() {
    let envelopes: Vec<EventEnvelope> = EVENT_TYPES
        .iter()
        .map(|(t, v)| envelope(fixture(t, *v), 5, 1))
        .collect();
    let types = ["dev.orderlog.order.cancelled"];
    let (staging, written) = write(Layout::new(Some(&types)), &envelopes);
    let mut datasets: Vec<&str> = written.iter().map(|w| w.dataset.as_str()).collect();
    datasets.sort();
    assert_eq!(datasets, ["cancelled", "envelope"]);
    let _ = std::fs::remove_dir_all(staging);
}
