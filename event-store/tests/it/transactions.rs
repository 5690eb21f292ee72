//! The broker is real: transactions commit and abort as Kafka defines them.

use std::time::Duration;

use event_store::{TopicSet, TopicSpec};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::support::isolated_kafka;

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn committed_records_are_read_and_aborted_ones_are_not() {
    let kafka = isolated_kafka();
    let topics = TopicSet::new(&kafka.topic_prefix);
    topics
        .ensure(
            &kafka,
            TopicSpec {
                partitions: 1,
                replication: 1,
            },
        )
        .await
        .expect("topics");

    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .transactional_producer(&format!("{}tx", kafka.topic_prefix))
        .create()
        .expect("producer");
    producer.init_transactions(TIMEOUT).expect("init");

    let send = |payload: &str| {
        producer
            .send(
                BaseRecord::to(&topics.events)
                    .key("order-1")
                    .payload(payload)
                    .partition(0),
            )
            .map_err(|(e, _)| e)
            .expect("send");
    };
    producer.begin_transaction().expect("begin");
    send("kept-1");
    send("kept-2");
    producer.commit_transaction(TIMEOUT).expect("commit");

    producer.begin_transaction().expect("begin");
    send("aborted");
    producer.flush(TIMEOUT).expect("flush");
    producer.abort_transaction(TIMEOUT).expect("abort");

    producer.begin_transaction().expect("begin");
    send("kept-3");
    producer.commit_transaction(TIMEOUT).expect("commit");

    let consumer: BaseConsumer = kafka
        .read_committed_consumer("reader")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topics.events, 0, Offset::Beginning)
        .expect("offset");
    consumer.assign(&assignment).expect("assign");

    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no end of partition; seen {seen:?}"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => seen.push(
                String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf8"),
            ),
            Some(Err(KafkaError::PartitionEOF(_))) if seen.len() >= 3 => break,
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => panic!("consume: {e}"),
        }
    }
    assert_eq!(seen, ["kept-1", "kept-2", "kept-3"]);
}

#[tokio::test]
async fn mismatched_partition_counts_are_refused() {
    let kafka = isolated_kafka();
    let mut topics = TopicSet::new(&kafka.topic_prefix);
    topics
        .ensure(
            &kafka,
            TopicSpec {
                partitions: 2,
                replication: 1,
            },
        )
        .await
        .expect("topics");

    // Point the set at an events topic with a different partition count.
    let other = TopicSet::new(&format!("{}other.", kafka.topic_prefix));
    other
        .ensure(
            &kafka,
            TopicSpec {
                partitions: 3,
                replication: 1,
            },
        )
        .await
        .expect("topics");
    topics.events = other.events;

    let error = topics
        .ensure(
            &kafka,
            TopicSpec {
                partitions: 2,
                replication: 1,
            },
        )
        .await
        .expect_err("a mismatch is refused");
    let message = error.to_string();
    assert!(
        message.contains("has 3 partitions") && message.contains("has 2"),
        "{message}"
    );
}
