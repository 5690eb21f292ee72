//! What a takeover reads is input too. Records nobody should have written to a partition's
//! snapshots, events and results (a snapshot keyed by no order, an event that is not JSON,
//! an event that repeats a version, a result that does not parse) are skipped: the orders
//! are rebuilt from the rest and commands go on. Each becomes one dead letter with its
//! origin, and a later takeover reading the same records writes no second one.

use std::collections::HashMap;

use command_api::config::Role;
use command_api::processor::{FORMAT_HEADER, SNAPSHOT_FORMAT};
use rdkafka::ClientConfig;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// Writes records outside any processor's transaction, as any Kafka client could.
fn forge(records: &[(String, i32, String, Vec<u8>, OwnedHeaders)]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    for (topic, partition, key, value, headers) in records {
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(*partition)
                    .key(key)
                    .payload(value)
                    .headers(headers.clone()),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer
        .flush(std::time::Duration::from_secs(10))
        .expect("flush");
}

/// The source topics of the committed dead letters of one partition, by count.
fn dead_letter_sources(prefix: &str, partition: i32) -> HashMap<String, usize> {
    let kafka = event_store::KafkaConfig::new(bootstrap(), prefix);
    let mut sources = HashMap::new();
    event_store::read_to_end(
        &kafka,
        &event_store::TopicSet::new(prefix).dead_letter,
        partition,
        event_store::Start::Beginning,
        |m| {
            use rdkafka::Message;
            let source = m
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "orderlog_source_topic"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            *sources.entry(source).or_default() += 1;
            Ok::<(), ()>(())
        },
    )
    .expect("read dead letters");
    sources
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_records_a_takeover_reads_are_skipped_and_dead_lettered_once() {
    let prefix = unique_prefix();
    let key = key_in_partition(0, PARTITIONS);
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let placed = app
        .send_keyed(Method::POST, "/v1/orders", Some(place_body()), &key)
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let id = placed.body["order_id"].as_str().expect("id").to_owned();
    let line = json!({"sku": "S-1", "quantity": 1, "unit_price": money(300)});
    let added = app
        .send_keyed(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            Some(line.clone()),
            "line-1",
        )
        .await;
    assert_eq!(added.body["version"], 2, "{}", added.body);
    app.stop().await;

    let (events, snapshots, results) = (
        event_store::TopicSet::new(&prefix).events,
        event_store::TopicSet::new(&prefix).snapshots,
        format!("{prefix}order-command-results"),
    );
    let placed_event = read_events(&events, 2)
        .into_iter()
        .find(|e| e.key == id && e.version() == 1)
        .expect("the order's first event");
    let mut repeated_headers = OwnedHeaders::new();
    for (name, value) in &placed_event.headers {
        repeated_headers = repeated_headers.insert(Header {
            key: name,
            value: Some(value.as_bytes()),
        });
    }
    let newer = OwnedHeaders::new().insert(Header {
        key: FORMAT_HEADER,
        value: Some((SNAPSHOT_FORMAT + 1).to_string().as_bytes()),
    });
    let none = OwnedHeaders::new();
    forge(&[
        (
            snapshots.clone(),
            0,
            "not-an-order".into(),
            b"x".to_vec(),
            none.clone(),
        ),
        // Another format for another order makes the takeover fold the events and results.
        (
            snapshots.clone(),
            0,
            uuid::Uuid::now_v7().to_string(),
            b"{}".to_vec(),
            newer,
        ),
        (
            events.clone(),
            0,
            id.clone(),
            b"{not json".to_vec(),
            none.clone(),
        ),
        (
            events.clone(),
            0,
            id.clone(),
            serde_json::to_vec(&placed_event.value).expect("json"),
            repeated_headers,
        ),
        (
            results.clone(),
            0,
            id.clone(),
            b"not a result".to_vec(),
            none,
        ),
    ]);

    let expected: HashMap<String, usize> = [
        (snapshots.clone(), 1),
        (events.clone(), 2),
        (results.clone(), 1),
    ]
    .into();
    for takeover in 1..=2 {
        let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
        assert_eq!(
            dead_letter_sources(&prefix, 0),
            expected,
            "dead letters after takeover {takeover}"
        );
        let retried = app
            .send_keyed(
                Method::POST,
                &format!("/v1/orders/{id}/lines"),
                Some(line.clone()),
                "line-1",
            )
            .await;
        assert_eq!(
            (retried.status, &retried.body["version"]),
            (200, &json!(2)),
            "the first answer: {}",
            retried.body
        );
        let next = app
            .send(
                Method::POST,
                &format!("/v1/orders/{id}/lines"),
                Some(json!({"sku": format!("S-{}", takeover + 1), "quantity": 1, "unit_price": money(300)})),
            )
            .await;
        assert_eq!(next.status, 200, "{}", next.body);
        assert_eq!(next.body["version"], json!(2 + takeover), "{}", next.body);
        app.stop().await;
    }
}
