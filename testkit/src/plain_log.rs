//! The log as a plain Kafka consumer reads it (nothing but rdkafka and the CloudEvents
//! binding, no orderlog code), and the invariants every test of the write path checks on
//! it: acknowledged events present, each order's versions running 1..n.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

/// The ids of the events the acknowledged answers name.
pub fn acknowledged_event_ids(acknowledged: &[Value]) -> HashSet<String> {
    acknowledged
        .iter()
        .flat_map(|ack| ack["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["id"].as_str().expect("event id").to_owned())
        .collect()
}

/// Every acknowledged event is in the log.
pub fn assert_acknowledged_in_log(expected: &HashSet<String>, log: &[PlainEvent]) {
    let seen: HashSet<&str> = log.iter().map(|e| e.header("ce_id")).collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|id| !seen.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged events missing from the log: {missing:?}"
    );
}

/// Every order's versions run 1, 2, 3... in the log, with no gap or duplicate; `context`
/// is added to a failure's message.
pub fn assert_versions_run_1_to_n(log: &[PlainEvent], context: &str) {
    let mut versions: HashMap<&str, Vec<u64>> = HashMap::new();
    for event in log {
        versions
            .entry(event.key.as_str())
            .or_default()
            .push(event.version());
    }
    for (order, versions) in versions {
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "order {order}{context}"
        );
    }
}

/// An event as a plain Kafka consumer sees it: headers and JSON value, nothing else.
#[derive(Debug, Clone)]
pub struct PlainEvent {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub headers: HashMap<String, String>,
    pub value: Value,
}

impl PlainEvent {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn version(&self) -> u64 {
        self.header("ce_orderversion")
            .parse()
            .expect("ce_orderversion")
    }
}

/// Assigns `consumer` every one of the topic's `partitions`, from its first record.
pub fn assign_from_beginning(consumer: &BaseConsumer, topic: &str, partitions: i32) {
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("offset");
    }
    consumer.assign(&assignment).expect("assign");
}

/// Every committed event of the topic, read with nothing but rdkafka and the CloudEvents
/// binding (no orderlog code), until `expected` are seen or the deadline passes.
pub fn read_events(topic: &str, expected: usize) -> Vec<PlainEvent> {
    read_events_from(&crate::bootstrap(), topic, expected)
}

/// [`read_events`] from the brokers at `bootstrap`.
pub fn read_events_from(bootstrap: &str, topic: &str, expected: usize) -> Vec<PlainEvent> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "plain-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let partitions = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata")
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    assign_from_beginning(&consumer, topic, partitions);
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                quiet_since = Instant::now();
                let headers = headers_of(&message);
                events.push(PlainEvent {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                    headers,
                    value: serde_json::from_slice(message.payload().unwrap_or_default())
                        .expect("value is JSON"),
                });
            }
            Some(Err(error)) => panic!("consume: {error}"),
            // Past the expected count, wait a little longer to catch any extra (duplicate) event.
            None if events.len() >= expected
                && quiet_since.elapsed() > Duration::from_millis(1500) =>
            {
                break;
            }
            None => {}
        }
    }
    events
}

/// A record's headers as text, as a plain consumer reads them.
pub fn headers_of(message: &impl Message) -> HashMap<String, String> {
    message.headers().map_or_else(HashMap::new, |h| {
        h.iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect()
    })
}

/// The events of one order, in log order.
pub fn events_of(events: &[PlainEvent], order_id: &str) -> Vec<PlainEvent> {
    events
        .iter()
        .filter(|e| e.key == order_id)
        .cloned()
        .collect()
}
