//! Poison events go to the dead-letter topic as they were written, and the projection
//! goes on: one no projection can read, one the read models refuse.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use schemas::values::OrderId;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_dead_lettered_and_later_events_still_apply() {
    let stack = Stack::new().await;
    let running = stack.start(stack.config()).await;
    let order = OrderId::generate();
    let key = order.to_string();
    // An event of a type nobody knows, on the same order (so the same partition).
    let producer: ThreadedProducer<DefaultProducerContext> = stack
        .kafka
        .client()
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    let headers = [
        ("ce_specversion", "1.0"),
        ("ce_id", "0193a0c0-0000-7000-8000-000000000001"),
        ("ce_source", "test"),
        ("ce_type", "dev.orderlog.order.teleported"),
        ("ce_time", "2026-11-23T00:00:00Z"),
        ("ce_subject", key.as_str()),
        ("ce_orderversion", "1"),
        ("ce_correlationid", "0193a0c0-0000-7000-8000-000000000002"),
        ("ce_causationid", "0193a0c0-0000-7000-8000-000000000003"),
        ("ce_schemaversion", "1"),
    ]
    .into_iter()
    .fold(OwnedHeaders::new(), |h, (k, v)| {
        h.insert(Header {
            key: k,
            value: Some(v),
        })
    });
    producer
        .send(
            BaseRecord::to(&stack.topics.events)
                .key(key.as_bytes())
                .payload("{}")
                .headers(headers),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(Duration::from_secs(10)).expect("flush");
    // A well-formed event the read models refuse: an order's first event at version 2.
    let gapped = OrderId::generate();
    let mut gap = decide(&[(gapped, vec![place("cust-8", &[("P-2", 1, 100)])])]);
    gap.truncate(1);
    gap[0].order_version = 2;
    stack.write_events(&gap);
    let gap_value = schemas::cloudevents::encode(&gap[0]).value;
    stack.write(&[(order, vec![place("cust-9", &[("P-1", 1, 100)])])]);

    wait_for(&stack.pool, "SELECT count(*) FROM orders", 1).await;
    wait_for(&stack.pool, "SELECT count(*) FROM order_timeline", 2).await;

    let consumer: BaseConsumer = stack
        .kafka
        .read_committed_consumer("dlq-reader")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(&stack.topics.dead_letter, partition, Offset::Beginning)
            .expect("offset");
    }
    consumer.assign(&assignment).expect("assign");
    let (mut unknown, mut refused) = (Vec::new(), Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while unknown.len() + refused.len() < 5 && std::time::Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let header = |name: &str| {
            message
                .headers()
                .and_then(|h| h.iter().find(|x| x.key == name))
                .and_then(|x| x.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let error = header("orderlog_error").expect("error header");
        let projection = header("orderlog_projection").expect("projection header");
        if error.contains("unknown event type") {
            assert_eq!(message.key(), Some(key.as_bytes()), "original key");
            assert_eq!(message.payload(), Some(&b"{}"[..]), "original value");
            assert_eq!(
                header("ce_type").as_deref(),
                Some("dev.orderlog.order.teleported"),
                "original headers kept"
            );
            unknown.push(projection);
        } else {
            assert!(error.contains("does not follow"), "{error}");
            assert_eq!(message.key(), Some(gapped.to_string().as_bytes()));
            assert_eq!(message.payload(), Some(gap_value.as_slice()));
            assert_eq!(header("ce_orderversion").as_deref(), Some("2"));
            refused.push(projection);
        }
    }
    unknown.sort();
    refused.sort();
    assert_eq!(unknown, ["orders", "sales", "timeline"]);
    // The timeline keeps every event as it comes, gaps included.
    assert_eq!(refused, ["orders", "sales"]);
    running.stop().await;
}
