//! Snapshots a new owner cannot use. An order's snapshot is parsed on its first command; one
//! that does not parse is replaced by a fold of that order's events. A partition holding a
//! snapshot of another format (a newer version wrote it) is rebuilt from its events. A
//! snapshot that lacks committed events of its order (a commit that landed without it) is
//! caught up from those events at the takeover.

use rdkafka::ClientConfig;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use reqwest::Method;
use serde_json::json;

use command_api::config::Role;
use command_api::processor::{
    EVENTS_FROM_HEADER, FORMAT_HEADER, SNAPSHOT_FORMAT, TXN_EVENTS_HEADER, TXN_HEADER,
};
use rdkafka::message::Headers;

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
    let headers = match format {
        Some(format) => OwnedHeaders::new().insert(Header {
            key: FORMAT_HEADER,
            value: Some(format.as_bytes()),
        }),
        None => OwnedHeaders::new(),
    };
    write_record(prefix, partition, key, value, headers);
}

/// Appends a record with `headers` to the snapshots topic outside any transaction.
fn write_record(prefix: &str, partition: i32, key: &str, value: &[u8], headers: OwnedHeaders) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let topic = event_store::TopicSet::new(prefix).snapshots;
    let record = BaseRecord::<str, [u8]>::to(&topic)
        .partition(partition)
        .key(key)
        .payload(value)
        .headers(headers);
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
    add_third_line(app, id).await;
    assert_eq!(versions_in_log(app, id), vec![1, 2, 3]);
}

/// Adds line SKU-2, which makes the order's version 3.
async fn add_third_line(app: &TestApp, id: &str) {
    let next = app
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            Some(line("SKU-2")),
        )
        .await;
    assert_eq!(
        (next.status, &next.body["version"]),
        (200, &json!(3)),
        "{}",
        next.body
    );
}

/// The versions of the order's events in the log (once it holds at least three events).
fn versions_in_log(app: &TestApp, id: &str) -> Vec<u64> {
    let events = read_events(&app.events_topic(), 3);
    events_of(&events, id)
        .iter()
        .map(PlainEvent::version)
        .collect()
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

/// As `broker_restart` once found (a commit that landed without its snapshots, then the
/// command sent again): the latest snapshot of the order is its state before the line was
/// added, while the line's event is committed. The new owner folds the event in, so the
/// retried command is answered from the order's memory and written once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_events_a_snapshot_lacks_are_folded_in_and_their_command_not_applied_twice() {
    let (prefix, id, partition) = order_with_a_line("snap-c1").await;
    let mut first = None;
    read_snapshots(&prefix, partition, |m| {
        if m.key() == Some(id.as_bytes()) && first.is_none() {
            first = m.payload().map(<[u8]>::to_vec);
        }
    });
    let placed = first.expect("the placed order's snapshot");
    let slot = command_api::processor::decode_snapshot(&placed).expect("readable");
    assert_eq!(slot.state.version(), 1);
    let current = SNAPSHOT_FORMAT.to_string();
    write_snapshot(&prefix, partition, &id, &placed, Some(&current));

    let caught_up = "orderlog_processor_events_caught_up_total";
    let before = counter(caught_up);
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let retried = add_keyed_line(&app, &id, "snap-c1").await;
    assert_eq!(
        (retried.status, &retried.body["version"]),
        (200, &json!(2)),
        "the first answer, nothing written: {}",
        retried.body
    );
    add_third_line(&app, &id).await;
    assert_eq!(
        versions_in_log(&app, &id),
        vec![1, 2, 3],
        "the line was not added twice"
    );
    assert_eq!(
        counter(caught_up) - before,
        1.0,
        "the line's event was folded in"
    );
    app.stop().await;

    // The caught-up state went out with that transaction: the next owner needs no catch-up.
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    assert_eq!(counter(caught_up) - before, 1.0, "nothing left to catch up");
    let again = add_keyed_line(&app, &id, "snap-c1").await;
    assert_eq!(
        (again.status, &again.body["version"]),
        (200, &json!(2)),
        "{}",
        again.body
    );
    assert_eq!(
        versions_in_log(&app, &id),
        vec![1, 2, 3],
        "nothing written twice"
    );
    app.stop().await;
}

/// A gauge or counter summed over its labels (0 when absent).
fn summed(name: &str) -> f64 {
    telemetry::metrics_handle()
        .render()
        .lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Cancels the order under an idempotency key.
async fn cancel(app: &TestApp, id: &str, reason: &str, key: &str) -> Reply {
    app.send_with(
        Method::POST,
        &format!("/v1/orders/{id}/cancellation"),
        Some(json!({ "reason": reason })),
        &[("Idempotency-Key", key)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_order_is_kept_on_disk_after_a_takeover_and_still_answers_correctly() {
    let (prefix, id, _) = order_with_a_line("snap-f1").await;
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let cancelled = cancel(&app, &id, "changed mind", "snap-f1-cancel").await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert_eq!(cancelled.body["version"], 3);
    app.stop().await;

    // The new owner reads the cancelled order's snapshot into its store on disk. (Counted
    // over every takeover of this test process: a per-partition gauge is overwritten by
    // other tests' takeovers of a partition with the same number.)
    let before = summed("orderlog_processor_final_orders_taken_over_total");
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    assert!(
        summed("orderlog_processor_final_orders_taken_over_total") >= before + 1.0,
        "the cancelled order went to the final store"
    );
    let retried = cancel(&app, &id, "changed mind", "snap-f1-cancel").await;
    assert_eq!(
        (retried.status, &retried.body["events"]),
        (200, &cancelled.body["events"]),
        "the first answer again: {}",
        retried.body
    );
    let line_again = add_keyed_line(&app, &id, "snap-f1").await;
    assert_eq!(
        (line_again.status, &line_again.body["version"]),
        (200, &json!(2)),
        "an older command's first answer: {}",
        line_again.body
    );
    let refused = cancel(&app, &id, "again", "snap-f1-other").await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (409, Some("invalid_transition")),
        "{}",
        refused.body
    );
    // The refusal is remembered through the store too.
    let refused_again = cancel(&app, &id, "again", "snap-f1-other").await;
    assert_eq!(
        (refused_again.status, refused_again.body["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    assert_eq!(
        versions_in_log(&app, &id),
        vec![1, 2, 3],
        "nothing written twice"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_of_format_1_are_read_after_an_upgrade_without_a_rebuild_from_events() {
    let (prefix, id, partition) = order_with_a_line("snap-u1").await;
    // What the version before format 2 wrote for this order, with a mark only that record
    // holds: the line's answer remembers another request's fingerprint.
    let mut latest = None;
    read_snapshots(&prefix, partition, |m| {
        if m.key() == Some(id.as_bytes()) {
            latest = m.payload().map(<[u8]>::to_vec);
        }
    });
    let mut slot =
        command_api::processor::decode_snapshot(&latest.expect("a snapshot")).expect("readable");
    let line_answer = slot.recent.back_mut().expect("the line's answer");
    line_answer.fingerprint = Some("0000000000000000".to_owned());
    let format_1 = command_api::processor::encode_snapshot_format_1(&slot);
    assert_eq!(format_1.first(), Some(&b'{'));
    write_snapshot(&prefix, partition, &id, &format_1, Some("1"));

    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let retried = add_keyed_line(&app, &id, "snap-u1").await;
    assert_eq!(
        (retried.status, retried.body["code"].as_str()),
        (422, Some("idempotency_key_reused")),
        "the format-1 record answered (a fold of the events would give the first answer): {}",
        retried.body
    );
    add_third_line(&app, &id).await;
    app.stop().await;
}

/// Places the order of `key` (the same order id in every topic set) and adds line SKU-1
/// under `{key}-line`: version 2.
async fn keyed_order_with_a_line(app: &TestApp, key: &str) -> String {
    let placed = app
        .send_with(
            Method::POST,
            "/v1/orders",
            Some(place_body()),
            &[("Idempotency-Key", key)],
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let id = placed.body["order_id"]
        .as_str()
        .expect("order id")
        .to_owned();
    let added = add_keyed_line(app, &id, &format!("{key}-line")).await;
    assert_eq!(added.body["version"], 2, "{}", added.body);
    id
}

/// Adds line `sku` under the idempotency key `key`.
async fn add_line(app: &TestApp, id: &str, sku: &str, key: &str) -> Reply {
    app.send_with(
        Method::POST,
        &format!("/v1/orders/{id}/lines"),
        Some(line(sku)),
        &[("Idempotency-Key", key)],
    )
    .await
}

/// The highest transaction number the partition's snapshot records name.
fn last_txn(prefix: &str, partition: i32) -> Option<i64> {
    let mut last = None;
    read_snapshots(prefix, partition, |m| {
        let txn = m.headers().and_then(|h| {
            let header = h.iter().find(|h| h.key == TXN_HEADER)?;
            std::str::from_utf8(header.value?).ok()?.parse::<i64>().ok()
        });
        last = last.max(txn);
    });
    last
}

/// The same broker fault the other way round: Kafka committed a transaction's snapshots and
/// aborted its events, so an order's snapshot holds a version the log never got, with its
/// command in the order's memory. The transaction's records say it wrote an event; the new
/// owner finds none of its events in the log, sets its snapshots aside and rebuilds from the
/// ones before: the command, sent again, is applied (once) rather than answered from the
/// memory of an event that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_committed_without_their_events_are_set_aside() {
    let key = format!("snap-u1-{}", uuid::Uuid::new_v4().simple());
    let third = format!("{key}-third");
    // In another topic set the same order goes one command further: its snapshot at
    // version 3 is what the lost transaction wrote.
    let elsewhere = unique_prefix();
    let app = TestApp::spawn_with(test_config(&elsewhere, Role::All)).await;
    let id = keyed_order_with_a_line(&app, &key).await;
    let added = add_line(&app, &id, "SKU-2", &third).await;
    assert_eq!(added.body["version"], 3, "{}", added.body);
    app.stop().await;
    let partition = snapshot_partition(&elsewhere, &id);
    let mut lost = None;
    read_snapshots(&elsewhere, partition, |m| {
        if m.key() == Some(id.as_bytes()) {
            lost = m.payload().map(<[u8]>::to_vec);
        }
    });
    let lost = lost.expect("the snapshot at version 3");

    let prefix = unique_prefix();
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    assert_eq!(keyed_order_with_a_line(&app, &key).await, id);
    app.stop().await;
    let events_end = {
        let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .create()
            .expect("consumer");
        let events = event_store::TopicSet::new(&prefix).events;
        event_store::watermarks(
            &consumer,
            &events,
            partition,
            std::time::Duration::from_secs(5),
        )
        .expect("watermarks")
        .1
    };
    let txn = last_txn(&prefix, partition)
        .map_or(1_000, |n| n + 1)
        .to_string();
    let (format, from) = (SNAPSHOT_FORMAT.to_string(), events_end.to_string());
    let headers = [
        (FORMAT_HEADER, format.as_str()),
        (EVENTS_FROM_HEADER, from.as_str()),
        (TXN_HEADER, txn.as_str()),
        (TXN_EVENTS_HEADER, "1"),
    ]
    .into_iter()
    .fold(OwnedHeaders::new(), |headers, (key, value)| {
        headers.insert(Header {
            key,
            value: Some(value.as_bytes()),
        })
    });
    write_record(&prefix, partition, &id, &lost, headers);

    let set_aside = "orderlog_processor_snapshots_set_aside_total";
    let before = counter(set_aside);
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let applied = add_line(&app, &id, "SKU-2", &third).await;
    assert_eq!(
        (applied.status, &applied.body["version"]),
        (200, &json!(3)),
        "{}",
        applied.body
    );
    assert_eq!(versions_in_log(&app, &id), vec![1, 2, 3], "written, once");
    assert_eq!(counter(set_aside) - before, 1.0, "one snapshot set aside");
    app.stop().await;
}
