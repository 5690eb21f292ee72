//! Where a partition's commands resume after a takeover: at the position each transaction
//! records beside the snapshots, whatever the consumer group's committed offset says.

use command_api::config::{Config, Role};
use command_api::processor::POSITION_KEY;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

use crate::support::*;

/// Commits `offset` for every commands partition in the processors' group, as a stale or
/// mistaken tool might.
fn commit_group_offsets(prefix: &str, offset: i64) {
    let group = format!("{prefix}{}", Config::defaults().processor_group);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let topic = event_store::TopicSet::new(prefix).commands;
    let mut offsets = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        offsets
            .add_partition_offset(&topic, partition, Offset::Offset(offset))
            .expect("offset");
    }
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("commit group offsets");
}

/// The positions recorded on the snapshots topic, by partition.
fn recorded_positions(prefix: &str) -> Vec<(i32, i64)> {
    (0..PARTITIONS)
        .filter_map(|partition| Some((partition, recorded_position(prefix, partition)?)))
        .collect()
}

/// The end of a commands partition, once it reaches `at_least` (or after 20 s).
fn commands_end(prefix: &str, partition: i32, at_least: i64) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer");
    let topic = event_store::TopicSet::new(prefix).commands;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, high) = event_store::watermarks(
            &consumer,
            &topic,
            partition,
            std::time::Duration::from_secs(5),
        )
        .expect("watermarks");
        if high >= at_least || std::time::Instant::now() > deadline {
            return high;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Starts an HTTP tier alone and sends AddLine to order `id`, whose partition's second
/// command it is; returns once the command is in the log, with the request still waiting.
async fn add_line_while_no_processor_runs(
    prefix: &str,
    id: &str,
    partition: i32,
) -> (TestApp, tokio::task::JoinHandle<reqwest::Response>) {
    let intake = TestApp::spawn_with(test_config(prefix, Role::Http)).await;
    let pending = tokio::spawn({
        let (client, url) = (
            intake.client.clone(),
            format!("{}/v1/orders/{id}/lines", intake.base),
        );
        async move {
            client
                .post(url)
                .json(&json!({"sku": "SKU-9", "quantity": 1, "unit_price": money(300)}))
                .send()
                .await
                .expect("request sent")
        }
    });
    let end = tokio::task::spawn_blocking({
        let prefix = prefix.to_owned();
        move || commands_end(&prefix, partition, 2)
    });
    assert_eq!(end.await.expect("join"), 2, "the command is in the log");
    (intake, pending)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_processor_resumes_at_the_recorded_position_not_the_group_offset() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(through_topic(&prefix, Role::All)).await;
    let id = app.place_default().await;
    let positions = recorded_positions(&prefix);
    assert_eq!(
        positions.len(),
        1,
        "one partition took a command and recorded where it stands: {positions:?}"
    );
    let (partition, next) = positions[0];
    assert_eq!(next, 1, "the next command of that partition is its second");
    app.stop().await;

    // A command arrives while no processor runs...
    let (intake, pending) = add_line_while_no_processor_runs(&prefix, &id, partition).await;
    // ...and the group's offset says it was already processed (a stale tool, a bug).
    // A processor trusting the group would skip it, and the request would time out.
    commit_group_offsets(&prefix, 2);
    let processor = TestApp::spawn_with(test_config(&prefix, Role::Processor)).await;
    let reply = pending.await.expect("join");
    let status = reply.status();
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(recorded_positions(&prefix), vec![(partition, 2)]);
    processor.stop().await;
    intake.stop().await;
}

/// Writes a position record on a snapshots partition, as a client that should not might.
fn forge_position(prefix: &str, partition: i32, next_offset: i64) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let value = serde_json::to_vec(&json!({ "next_offset": next_offset })).expect("json");
    let topic = event_store::TopicSet::new(prefix).snapshots;
    producer
        .send(
            BaseRecord::to(&topic)
                .partition(partition)
                .key(POSITION_KEY)
                .payload(&value),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer
        .flush(std::time::Duration::from_secs(10))
        .expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_position_beyond_the_log_does_not_make_a_processor_skip_commands() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(through_topic(&prefix, Role::All)).await;
    let id = app.place_default().await;
    let (partition, _) = recorded_positions(&prefix)[0];
    app.stop().await;

    // Someone writes a position far past the end of the commands log...
    forge_position(&prefix, partition, 1_000_000);
    // ...and a command arrives while no processor runs.
    let (intake, pending) = add_line_while_no_processor_runs(&prefix, &id, partition).await;
    let processor = TestApp::spawn_with(test_config(&prefix, Role::Processor)).await;
    let reply = pending.await.expect("join");
    let status = reply.status();
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(status, 200, "the command was skipped: {body}");
    assert_eq!(body["version"], 2);
    assert_eq!(recorded_positions(&prefix), vec![(partition, 2)]);
    processor.stop().await;
    intake.stop().await;
}
