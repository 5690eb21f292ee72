//! Records on the commands topic are input, whoever wrote them: one too large to copy, one
//! that is not JSON, one keyed to an order of another partition. Each goes to the
//! dead-letter topic with its reason and origin, and the partition keeps serving commands.
//! Garbage on the results topic is skipped by the HTTP tier, which keeps answering.

use std::time::{Duration, Instant};

use event_store::partitioner::partition_of;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// An order id that lives in `partition`.
fn order_in(partition: i32) -> uuid::Uuid {
    loop {
        let id = uuid::Uuid::new_v4();
        if partition_of(id.to_string().as_bytes(), PARTITIONS) == partition {
            return id;
        }
    }
}

fn header(message: &rdkafka::message::BorrowedMessage<'_>, name: &str) -> String {
    message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_commands_are_dead_lettered_and_the_partition_goes_on() {
    let app = TestApp::spawn().await;
    let id = app.place_default().await;
    let partition = partition_of(id.as_bytes(), PARTITIONS);
    let commands = event_store::TopicSet::new(&app.prefix).commands;

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("message.max.bytes", "1048576")
        .create()
        .expect("producer");
    let elsewhere = order_in((partition + 1) % PARTITIONS);
    let forged = schemas::CommandEnvelope {
        command_id: uuid::Uuid::now_v7(),
        order_id: schemas::values::OrderId::from_uuid(elsewhere),
        expected_version: None,
        correlation_id: uuid::Uuid::now_v7(),
        issued_at: chrono::Utc::now(),
        fingerprint: String::new(),
        traceparent: None,
        acting_for: None,
        command: schemas::Command::DeliverOrder(Default::default()),
    };
    let values: [Vec<u8>; 3] = [
        vec![b'x'; 1_040_000],
        b"{not json".to_vec(),
        serde_json::to_vec(&forged).expect("json"),
    ];
    let write = |topic: &str, value: &[u8]| {
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(partition)
                    .key(id.as_bytes())
                    .payload(value),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    };
    for value in &values {
        write(&commands, value);
    }
    // The results topic is read by the HTTP tier: what no processor wrote is skipped.
    let results = format!("{}order-command-results", app.prefix);
    for value in [&values[0][..], &values[1][..], b"{}"] {
        write(&results, value);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let started = Instant::now();
    let reply = app
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            Some(json!({"sku": "C-3", "quantity": 1, "unit_price": money(50)})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["version"], 2);
    eprintln!("answered {:?} after the poison", started.elapsed());

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", "poison-reader")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(
            &event_store::TopicSet::new(&app.prefix).dead_letter,
            partition,
            Offset::Beginning,
        )
        .expect("offset");
    consumer.assign(&assignment).expect("assign");
    let mut letters = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while letters.len() < 3 && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            letters.push((
                header(&message, "orderlog_error"),
                header(&message, "orderlog_copy"),
                header(&message, "orderlog_source_topic"),
                message.payload().map_or(0, <[u8]>::len),
            ));
        }
    }
    assert_eq!(letters.len(), 3, "{letters:?}");
    assert!(letters[0].0.contains("above the"), "{letters:?}");
    assert_eq!((letters[0].1.as_str(), letters[0].3), ("reference", 0));
    assert!(
        letters[1].0.contains("not a command envelope"),
        "{letters:?}"
    );
    assert_eq!((letters[1].1.as_str(), letters[1].3), ("full", 9));
    assert!(
        letters[2].0.contains(&format!(
            "belongs to partition {}",
            (partition + 1) % PARTITIONS
        )),
        "{letters:?}"
    );
    assert!(letters.iter().all(|l| l.2 == commands));
}
