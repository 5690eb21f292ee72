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

/// The dead letters of `source_offset` on `partition`'s commands, read committed: how many
/// processors wrote (after waiting up to 30 s for the first).
fn letters_of(prefix: &str, partition: i32, source_offset: i64) -> usize {
    let topics = event_store::TopicSet::new(prefix);
    let kafka = event_store::KafkaConfig::new(bootstrap(), prefix);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut found = 0;
        event_store::read_to_end(
            &kafka,
            &topics.dead_letter,
            partition,
            event_store::Start::Beginning,
            |m| {
                let named = |name| header(m, name);
                if named("orderlog_source_topic") == topics.commands
                    && named("orderlog_source_offset") == source_offset.to_string()
                {
                    found += 1;
                }
                Ok::<(), ()>(())
            },
        )
        .expect("read the dead letters");
        if found > 0 || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Appends again the partition's position record that said the commands resume at
/// `next_offset` (its headers too): the older position a lost one leaves.
fn rewind_position(prefix: &str, partition: i32, next_offset: i64) {
    let mut latest = None;
    read_snapshots(prefix, partition, |m| {
        let position = serde_json::from_slice::<command_api::processor::Position>(
            m.payload().unwrap_or_default(),
        );
        if m.key() == Some(command_api::processor::POSITION_KEY)
            && position.is_ok_and(|p| p.next_offset == next_offset)
        {
            latest = Some((
                m.payload().unwrap_or_default().to_vec(),
                m.headers().map(|h| h.detach()),
            ));
        }
    });
    let (value, headers) = latest.expect("the position before the poison was recorded");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let topic = event_store::TopicSet::new(prefix).snapshots;
    let mut record = BaseRecord::<[u8], [u8]>::to(&topic)
        .partition(partition)
        .key(command_api::processor::POSITION_KEY)
        .payload(&value);
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    producer.send(record).map_err(|(e, _)| e).expect("send");
    producer.flush(Duration::from_secs(10)).expect("flush");
}

/// Adds line `sku` to order `id`, which must be applied.
async fn add_line(app: &TestApp, id: &str, sku: &str) {
    let line = json!({"sku": sku, "quantity": 1, "unit_price": money(50)});
    let reply = app
        .send(Method::POST, &format!("/v1/orders/{id}/lines"), Some(line))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// As CI's `broker_restart` found: Kafka (one broker, killed while it wrote a commit's
/// markers) committed a transaction on the dead-letter partition and aborted it on the
/// snapshots partition, so the letter of a poison record was in the log and the position
/// past it was not; the next owner read the record again and wrote a second letter. Here
/// the position is rewound to before the poison record, its letter still written: the next
/// owner finds the letter and writes no other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_committed_without_its_position_is_not_written_again() {
    let app = TestApp::spawn_with(through_topic(
        &unique_prefix(),
        command_api::config::Role::All,
    ))
    .await;
    let prefix = app.prefix.clone();
    let id = app.place_default().await;
    let partition = partition_of(id.as_bytes(), PARTITIONS);
    let commands = event_store::TopicSet::new(&prefix).commands;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    producer
        .send(
            BaseRecord::to(&commands)
                .partition(partition)
                .key(id.as_bytes())
                .payload(b"{not json".as_slice()),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(Duration::from_secs(10)).expect("flush");
    let poison = {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .create()
            .expect("consumer");
        event_store::watermarks(&consumer, &commands, partition, Duration::from_secs(5))
            .expect("watermarks")
            .1
            - 1
    };
    let written = tokio::task::spawn_blocking({
        let prefix = prefix.clone();
        move || letters_of(&prefix, partition, poison)
    });
    assert_eq!(
        written.await.expect("join"),
        1,
        "the poison record was dead-lettered"
    );
    add_line(&app, &id, "P-1").await;
    assert!(
        recorded_position(&prefix, partition) > Some(poison),
        "the position passed it"
    );
    app.stop().await;

    rewind_position(&prefix, partition, poison);
    let app = TestApp::spawn_with(through_topic(&prefix, command_api::config::Role::All)).await;
    add_line(&app, &id, "P-2").await;
    let letters = tokio::task::spawn_blocking({
        let prefix = prefix.clone();
        move || letters_of(&prefix, partition, poison)
    });
    assert_eq!(letters.await.expect("join"), 1, "no second letter");
    app.stop().await;
}
