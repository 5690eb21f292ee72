//! Snapshots a new owner cannot use. An order's snapshot is parsed on its first command; one
//! that does not parse is replaced by a fold of that order's events. A partition holding a
//! snapshot of another format (a newer version wrote it) is rebuilt from its events.

use rdkafka::ClientConfig;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use reqwest::Method;
use serde_json::json;

use command_api::config::Role;
use command_api::processor::{FORMAT_HEADER, SNAPSHOT_FORMAT};

use crate::support::*;

/// The partition of the snapshots topic holding `order_id`'s snapshot.
fn snapshot_partition(prefix: &str, order_id: &str) -> i32 {
    (0..PARTITIONS)
        .find(|&partition| {
            let mut found = false;
            read_snapshots(prefix, partition, |m| {
                found |= m.key() == Some(order_id.as_bytes());
            });
            found
        })
        .expect("the order has a snapshot")
}

/// Appends a record to the snapshots topic outside any processor's transaction.
fn write_snapshot(prefix: &str, partition: i32, key: &str, value: &[u8], format: Option<&str>) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let topic = format!("{prefix}order-snapshots");
    let mut record = BaseRecord::<str, [u8]>::to(&topic)
        .partition(partition)
        .key(key)
        .payload(value);
    if let Some(format) = format {
        record = record.headers(OwnedHeaders::new().insert(Header {
            key: FORMAT_HEADER,
            value: Some(format.as_bytes()),
        }));
    }
    producer.send(record).map_err(|(e, _)| e).expect("send");
    producer
        .flush(std::time::Duration::from_secs(10))
        .expect("flush");
}

/// A counter of the process's metrics (every app of a test process shares the recorder;
/// no other test moves the counters read here). 0 when absent.
fn counter(name_and_labels: &str) -> f64 {
    telemetry::metrics_handle()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn line(sku: &str) -> serde_json::Value {
    json!({"sku": sku, "quantity": 1, "unit_price": money(300)})
}

/// Adds line SKU-1 under an idempotency key.
async fn add_keyed_line(app: &TestApp, id: &str, key: &str) -> Reply {
    app.send_with(
        Method::POST,
        &format!("/v1/orders/{id}/lines"),
        Some(line("SKU-1")),
        &[("Idempotency-Key", key)],
    )
    .await
}

/// An order placed and given a line (with an idempotency key) by a processor that then
/// stops: returns the prefix, the order id and the partition of its snapshot.
async fn order_with_a_line(key: &str) -> (String, String, i32) {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let id = app.place_default().await;
    let added = add_keyed_line(&app, &id, key).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(added.body["version"], 2);
    app.stop().await;
    let partition = snapshot_partition(&prefix, &id);
    (prefix, id, partition)
}

/// After the restart: the retried command gets its first answer, the same key with another
/// request is refused, the next command follows on.
async fn the_order_goes_on(app: &TestApp, id: &str, key: &str) {
    let reused = app
        .send_with(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            Some(line("SKU-9")),
            &[("Idempotency-Key", key)],
        )
        .await;
    assert_eq!(
        (reused.status, reused.body["code"].as_str()),
        (422, Some("idempotency_key_reused")),
        "{}",
        reused.body
    );
    let retried = add_keyed_line(app, id, key).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(
        retried.body["version"], 2,
        "the first answer, nothing written"
    );
    let next = app
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            Some(line("SKU-2")),
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(next.body["version"], 3);
    let events = read_events(&app.events_topic(), 3);
    let versions: Vec<u64> = events_of(&events, id)
        .iter()
        .map(PlainEvent::version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_snapshot_is_replaced_by_the_orders_events() {
    let (prefix, id, partition) = order_with_a_line("snap-k1").await;
    let current = SNAPSHOT_FORMAT.to_string();
    write_snapshot(&prefix, partition, &id, b"{\"format\":", Some(&current));

    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let repaired = "orderlog_processor_unreadable_snapshots_total";
    let before = counter(repaired);
    the_order_goes_on(&app, &id, "snap-k1").await;
    assert_eq!(
        counter(repaired) - before,
        1.0,
        "the order was folded from its events once"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_format_makes_the_partition_fold_its_events() {
    let (prefix, id, partition) = order_with_a_line("snap-k2").await;
    // What a newer version might write, for another order of the partition.
    let other = uuid::Uuid::now_v7().to_string();
    let newer = (SNAPSHOT_FORMAT + 1).to_string();
    write_snapshot(&prefix, partition, &other, br#"{"format":2}"#, Some(&newer));

    let from_events = "orderlog_processor_rebuilds_total{source=\"events\"}";
    let before = counter(from_events);
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    assert!(
        counter(from_events) > before,
        "a partition was rebuilt from its events"
    );
    the_order_goes_on(&app, &id, "snap-k2").await;
    app.stop().await;
}
