//! A takeover revoked while its coordinator stalls it never runs beside the next takeover
//! of the same partition: the first InitProducerId of each partition's writer is held at a
//! proxy, one partition is revoked and assigned back meanwhile, and the held request
//! reaches the broker only after the second takeover initialised its writer (fencing it,
//! as a coordinator that wakes up late would). The process must keep running, with one
//! writer per partition, and serve every partition once the log lets it.

use std::time::Duration;

use command_api::config::Role;
use event_store::{KafkaConfig, TopicSet, TopicSpec};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use reqwest::Method;
use testkit::broker::Broker;
use testkit::kafka_proxy::KafkaProxy;

use crate::support::*;
use testkit::open_transaction::OpenTransaction;

const TOPIC_PARTITIONS: i32 = 2;

/// A member of the processors' group that takes a partition away and, when dropped,
/// gives it back.
fn join_group(bootstrap: &str, group: &str, topic: &str) -> (BaseConsumer, i32) {
    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    member.subscribe(&[topic]).expect("subscribe");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        member.poll(Duration::from_millis(100));
        let assigned = member.assignment().expect("assignment");
        if let Some(element) = assigned.elements().first() {
            return (member, element.partition());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no partition moved to the new member"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_revoked_while_its_coordinator_stalls_never_runs_beside_the_next() {
    let proxy = KafkaProxy::listen();
    let broker = tokio::task::spawn_blocking({
        let proxy = proxy.clone();
        move || Broker::start_behind("stalled-takeover", &proxy)
    })
    .await
    .expect("broker");
    let bootstrap = proxy.bootstrap();

    let prefix = unique_prefix();
    let mut config = test_config(&prefix, Role::All);
    config.kafka_bootstrap = bootstrap.clone();
    config.topic_partitions = TOPIC_PARTITIONS;
    config.result_timeout_ms = 5_000;
    let kafka = KafkaConfig::new(&bootstrap, &prefix);
    TopicSet::new(&prefix)
        .ensure(
            &kafka,
            TopicSpec {
                partitions: TOPIC_PARTITIONS,
                replication: 1,
            },
        )
        .await
        .expect("topics");
    let events = event_store::TopicSet::new(&prefix).events;
    let holder = tokio::task::spawn_blocking({
        let (bootstrap, events) = (bootstrap.clone(), events.clone());
        // Every takeover's settle waits for it, so the second takeover is still settling
        // when the first one's stalled request lands.
        move || OpenTransaction::hold(&bootstrap, &events, &[], &format!("{events}-holder"))
    })
    .await
    .expect("join")
    .expect("open transactions");

    let commands = event_store::TopicSet::new(&prefix).commands;
    proxy.hold_first_init_of(&format!("{commands}.processor-"));
    let group = format!("{prefix}{}", config.processor_group);
    let app = TestApp::start(config).await;
    assert!(
        tokio::task::block_in_place(|| proxy.wait_held(2, Duration::from_secs(60))),
        "the first takeover reached its coordinator"
    );

    // Revoked and assigned back while the first takeover of that partition is stalled.
    let (member, moved) = tokio::task::block_in_place(|| join_group(&bootstrap, &group, &commands));
    tokio::task::block_in_place(|| drop(member));
    let writer = format!("{commands}.processor-{moved}");
    assert!(
        tokio::task::block_in_place(|| proxy.wait_inits(&writer, 2, Duration::from_secs(90))),
        "partition {moved} was taken over again"
    );
    // The second takeover is settling (the open transaction holds it); the first one's
    // request lands now and fences it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.release();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        !app.is_finished(),
        "the process stopped after the stalled takeover woke up"
    );
    tokio::task::spawn_blocking(move || holder.abort())
        .await
        .expect("join")
        .expect("abort");

    app.wait_ready().await;
    for partition in 0..TOPIC_PARTITIONS {
        let key = key_in_partition(partition, TOPIC_PARTITIONS);
        let reply = app
            .until_definite_within(
                Method::POST,
                "/v1/orders",
                Some(place_body()),
                &key,
                Duration::from_secs(60),
            )
            .await;
        assert_eq!(reply.status, 201, "partition {partition}: {}", reply.body);
    }
    let log = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || read_events_from(&bootstrap, &events, TOPIC_PARTITIONS as usize)
    })
    .await
    .expect("read");
    assert_eq!(
        log.len(),
        TOPIC_PARTITIONS as usize,
        "each order placed once, by one writer per partition: {log:#?}"
    );
    assert!(!app.is_finished(), "the process still runs");
    app.stop().await;
    drop(broker);
}
