//! Commands handed straight to the lane serving their partition, when the HTTP tier and the
//! processor share a process: answered once their transaction has committed, never through
//! the commands topic, leaving the partition's recorded position where the topic's commands
//! put it; and an answered command is decided before any command sent after its answer,
//! whichever intake that one takes (the commands topic stays the intake of Kafka clients).

use std::time::{Duration, Instant};

use command_api::config::Role;
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::Method;
use schemas::CommandEnvelope;
use schemas::command::Command;
use schemas::values::OrderId;
use serde_json::{Value, json};

use crate::support::*;

/// The end of every commands partition.
fn commands_ends(prefix: &str) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer");
    let topic = event_store::TopicSet::new(prefix).commands;
    (0..PARTITIONS)
        .map(|partition| {
            event_store::watermarks(&consumer, &topic, partition, Duration::from_secs(5))
                .expect("watermarks")
                .1
        })
        .collect()
}

/// `command` for `order_id` as a service with a Kafka client would write it.
pub(crate) fn envelope(
    order_id: OrderId,
    command: Value,
    expected_version: Option<u64>,
) -> CommandEnvelope {
    let command: Command = serde_json::from_value(command).expect("a command");
    let command_id = uuid::Uuid::now_v7();
    CommandEnvelope {
        command_id,
        order_id,
        expected_version,
        correlation_id: command_id,
        issued_at: chrono::Utc::now(),
        fingerprint: CommandEnvelope::fingerprint_of(order_id, &command, expected_version),
        traceparent: None,
        acting_for: None,
        command,
    }
}

/// Produces the commands to the commands topic, in order, as a Kafka client would.
pub(crate) async fn produce(prefix: &str, commands: &[CommandEnvelope]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("enable.idempotence", "true")
        // The platform's partitioner: a command on another partition is dead-lettered.
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    let topic = event_store::TopicSet::new(prefix).commands;
    for command in commands {
        let payload = serde_json::to_vec(command).expect("json");
        producer
            .send(
                FutureRecord::to(&topic)
                    .key(&command.order_id.to_string())
                    .payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .expect("produced");
    }
}

fn place_order() -> Value {
    json!({"type": "PlaceOrder", "data": place_body()})
}

fn add_line(sku: &str) -> Value {
    json!({"type": "AddLine", "data": {"sku": sku, "quantity": 1, "unit_price": money(300)}})
}

fn line_body(sku: &str) -> Value {
    json!({"sku": sku, "quantity": 1, "unit_price": money(300)})
}

/// Sends `body` to the order's lines until the order exists there (its PlaceOrder came
/// through the commands topic and may not be decided yet); the first other answer.
async fn add_line_once_placed(app: &TestApp, id: OrderId, sku: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = app
            .send(
                Method::POST,
                &format!("/v1/orders/{id}/lines"),
                Some(line_body(sku)),
            )
            .await;
        if reply.status != 404 || Instant::now() > deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_served_here_skips_the_commands_topic_and_is_answered_with_committed_events() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let mut acknowledged = Vec::new();
    for _ in 0..6 {
        let reply = app.place(place_body()).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        acknowledged.push(reply.body);
    }
    assert_eq!(
        tokio::task::spawn_blocking({
            let prefix = prefix.clone();
            move || commands_ends(&prefix)
        })
        .await
        .expect("join"),
        vec![0; PARTITIONS as usize],
        "no command went through the commands topic"
    );
    let log = tokio::task::spawn_blocking({
        let topic = app.events_topic();
        move || read_events(&topic, 6)
    })
    .await
    .expect("join");
    assert_acknowledged_in_log(&acknowledged_event_ids(&acknowledged), &log);
    assert_eq!(log.len(), 6, "each order placed once");
    let metrics = app.send(Method::GET, "/metrics", None).await;
    let page = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        page.lines().any(
            |line| line.starts_with("orderlog_command_results_answered_total{path=\"direct\"}")
        ),
        "the direct path answered: {page}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_commands_leave_the_position_where_the_commands_topic_put_it() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let id = OrderId::generate();
    let partition = event_store::partitioner::partition_of(id.to_string().as_bytes(), PARTITIONS);
    // Three commands from a Kafka client: offsets 0, 1 and 2 of the order's partition.
    let through_topic = [
        envelope(id, place_order(), None),
        envelope(id, add_line("T-1"), None),
        envelope(id, add_line("T-2"), None),
    ];
    produce(&prefix, &through_topic).await;
    // Then commands over HTTP, handed to the lane directly, each its own transaction.
    for sku in ["D-1", "D-2", "D-3"] {
        let reply = add_line_once_placed(&app, id, sku).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let position = tokio::task::spawn_blocking({
        let prefix = prefix.clone();
        move || recorded_position(&prefix, partition)
    })
    .await
    .expect("join");
    assert_eq!(
        position,
        Some(3),
        "transactions of direct commands only must not move the recorded position"
    );
    app.stop().await;

    // A new owner resumes the topic at its end: nothing is decided twice.
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let reply = app
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            Some(line_body("D-4")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["version"], 7, "{}", reply.body);
    let log = tokio::task::spawn_blocking({
        let topic = app.events_topic();
        move || read_events(&topic, 7)
    })
    .await
    .expect("join");
    assert_eq!(events_of(&log, &id.to_string()).len(), 7);
    assert_versions_run_1_to_n(&log, " after a takeover");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_command_is_decided_before_any_sent_after_its_answer_whichever_intake() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(test_config(&prefix, Role::All)).await;
    let placed = app.place(place_body()).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let id = OrderId::parse(placed.body["order_id"].as_str().expect("id")).expect("an order id");
    // Answered directly at version 1; a Kafka client's command expecting version 1 follows.
    let from_client = envelope(id, add_line("T-1"), Some(1));
    produce(&prefix, std::slice::from_ref(&from_client)).await;
    let log = tokio::task::spawn_blocking({
        let topic = app.events_topic();
        move || read_events(&topic, 2)
    })
    .await
    .expect("join");
    let second = events_of(&log, &id.to_string());
    assert_eq!(
        second.len(),
        2,
        "the client's command was accepted at version 2"
    );
    assert_eq!(
        second[1].header("ce_causationid"),
        from_client.command_id.to_string()
    );
    // And an HTTP command sent after it sees it.
    let next = app
        .send_with(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            Some(line_body("D-1")),
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_eq!(next.body["version"], 3);
    app.stop().await;
}
