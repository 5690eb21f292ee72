//! How a committed result reaches its request. A processor handed the HTTP tier's waiting
//! requests answers them itself right after its commit, with no results listener at all,
//! and only with what the log then holds; a process told not to still answers through the
//! results topic.

use std::time::Duration;

use command_api::answers::Answers;
use command_api::config::Role;
use command_api::processor::{Processor, ProcessorSettings, ProcessorStatus};
use event_store::{KafkaConfig, TopicSet, TopicSpec};
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::Method;
use schemas::values::OrderId;
use schemas::{CommandEnvelope, CommandOutcome, CommandResult};

use crate::support::*;

fn place(order_id: OrderId) -> CommandEnvelope {
    let command: schemas::Command = serde_json::from_value(serde_json::json!({
        "type": "PlaceOrder", "data": place_body()
    }))
    .expect("a PlaceOrder");
    CommandEnvelope {
        command_id: uuid::Uuid::now_v7(),
        order_id,
        expected_version: None,
        correlation_id: uuid::Uuid::now_v7(),
        issued_at: chrono::Utc::now(),
        fingerprint: CommandEnvelope::fingerprint_of(order_id, &command, None),
        traceparent: None,
        acting_for: None,
        command,
    }
}

/// Every committed result of the results topic.
pub(crate) fn committed_results(topic: &str) -> Vec<CommandResult> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", "answers-reader")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    assign_from_beginning(&consumer, topic, PARTITIONS);
    let (mut results, mut ended) = (Vec::new(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ended < PARTITIONS && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => results.push(
                serde_json::from_slice(message.payload().unwrap_or_default()).expect("a result"),
            ),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            _ => {}
        }
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_answers_waiting_requests_itself_after_its_commit() {
    let prefix = unique_prefix();
    let kafka = KafkaConfig::new(bootstrap(), &prefix);
    let topics = TopicSet::new(&prefix);
    let spec = TopicSpec {
        partitions: PARTITIONS,
        replication: 1,
    };
    topics.ensure(&kafka, spec).await.expect("topics");
    let answers = Answers::default();
    let status = ProcessorStatus::default();
    let processor = Processor::spawn(
        kafka,
        topics.clone(),
        ProcessorSettings {
            group_id: format!("{prefix}processors"),
            batch_max: 500,
            transaction_interval: Duration::from_millis(20),
            session_timeout: Duration::from_secs(6),
            partitions: PARTITIONS,
            answers: Some(answers.clone()),
            owners: None,
            policy: schemas::order::Policy::default(),
        },
        status.clone(),
    )
    .expect("processor");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !status.is_ready() {
        assert!(std::time::Instant::now() < deadline, "processor not ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // As the HTTP tier would, but with no results listener: only the processor can answer.
    let order_id = OrderId::generate();
    let command = place(order_id);
    let answer = answers.wait(command.command_id, &command.fingerprint);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        // The platform's partitioner: a command on another partition is dead-lettered.
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    let payload = serde_json::to_vec(&command).expect("json");
    producer
        .send(
            FutureRecord::to(&topics.commands)
                .key(&order_id.to_string())
                .payload(&payload),
            Duration::from_secs(10),
        )
        .await
        .expect("produced");
    let result = tokio::time::timeout(Duration::from_secs(30), answer)
        .await
        .expect("answered in-process")
        .expect("an answer");
    assert_eq!(result.command_id, command.command_id);
    assert!(
        matches!(result.outcome, CommandOutcome::Accepted { version: 1, .. }),
        "{:?}",
        result.outcome
    );
    // What answered is what the log committed.
    let committed = tokio::task::spawn_blocking({
        let topic = topics.results.clone();
        move || committed_results(&topic)
    })
    .await
    .expect("join");
    assert!(
        committed.contains(&result),
        "the answer is not among the committed results: {committed:?}"
    );
    tokio::task::spawn_blocking(move || processor.stop())
        .await
        .expect("join")
        .expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_in_process_results_commands_are_answered_through_the_results_topic() {
    let mut config = test_config(&unique_prefix(), Role::All);
    config.results_in_process = false;
    let app = TestApp::spawn_with(config).await;
    let id = app.place_default().await;
    let reply = app
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            Some(serde_json::json!({"sku": "C-3", "quantity": 1, "unit_price": money(50)})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["version"], 2);
    app.stop().await;
}
