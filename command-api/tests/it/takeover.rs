//! A takeover holds up its own partition only: while one partition cannot be taken over (a
//! transaction another producer left open on its events partition holds the last stable
//! offset back), the processor serves its other partitions, `/readyz` names the waiting
//! one, and it is served once that transaction ends. The same for every topic the
//! partition's transactions write, the dead-letter topic included: a transaction left open
//! there is settled before the partition's new writer commits anything.

use std::time::Duration;

use command_api::config::Role;
use event_store::{KafkaConfig, TopicSet, TopicSpec};
use reqwest::Method;
use serde_json::json;

use crate::support::*;
use testkit::open_transaction::OpenTransaction;

/// Places an order on `partition`, retrying 503s for at most `patience`.
async fn place_on(app: &TestApp, partition: i32, patience: Duration) -> Reply {
    let key = key_in_partition(partition, PARTITIONS);
    app.until_definite_within(
        Method::POST,
        "/v1/orders",
        Some(place_body()),
        &key,
        patience,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_cannot_be_taken_over_holds_up_no_other() {
    held_up_by_a_transaction_open_on(|t| t.events, "events").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_open_on_the_dead_letter_partition_is_settled_before_serving() {
    held_up_by_a_transaction_open_on(|t| t.dead_letter, "dead_letter").await;
}

/// The processor's count of open transactions it found on `label` topics while settling.
async fn settled_on(app: &TestApp, label: &str) -> u64 {
    let metrics = app.send(Method::GET, "/metrics", None).await.body;
    let name = format!("orderlog_processor_open_transactions_aborted_total{{topic=\"{label}\"}} ");
    metrics
        .as_str()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix(name.as_str()))
        })
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

/// Partition 0 of the `topic` of the platform's topics (`label` in the processor's metrics) has a transaction open when
/// the processor starts: settling finds it, and the partition waits for it to end.
async fn held_up_by_a_transaction_open_on(topic: fn(TopicSet) -> String, label: &str) {
    let prefix = unique_prefix();
    let mut config = test_config(&prefix, Role::All);
    config.result_timeout_ms = 2_000;
    let kafka = KafkaConfig::new(&config.kafka_bootstrap, &prefix);
    let spec = TopicSpec {
        partitions: PARTITIONS,
        replication: config.topic_replication,
    };
    TopicSet::new(&prefix)
        .ensure(&kafka, spec)
        .await
        .expect("topics");
    let held = topic(TopicSet::new(&prefix));
    let topic = held.clone();
    let intruder = tokio::task::spawn_blocking(move || {
        OpenTransaction::hold(&bootstrap(), &held, &[0], &format!("{held}-intruder"))
    })
    .await
    .expect("join")
    .expect("intruder");

    let app = TestApp::start(config).await;
    for partition in 1..PARTITIONS {
        let reply = place_on(&app, partition, Duration::from_secs(30)).await;
        assert_eq!(
            reply.status, 201,
            "partition {partition} served beside the stuck one: {}",
            reply.body
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while settled_on(&app, label).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the takeover never found the transaction open on {topic}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = app.send(Method::GET, "/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(
        ready.body["processor"]["unserved"],
        json!([0]),
        "{}",
        ready.body
    );

    tokio::task::spawn_blocking(move || intruder.abort())
        .await
        .expect("join")
        .expect("abort");
    let reply = place_on(&app, 0, Duration::from_secs(60)).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    app.wait_ready().await;
}
