//! A partition's transactions against the real broker, where a commit cannot be read back
//! yet (another producer's transaction held open ahead of it): it is not trusted, nothing
//! of it is answered, and after a takeover the command sent again gets one decision and
//! every answer is its first.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use event_store::{KafkaConfig, TopicSet, TopicSpec};
use rdkafka::Timestamp;
use rdkafka::message::{Message, OwnedMessage};
use schemas::values::OrderId;
use schemas::{Command, CommandEnvelope, CommandResult};
use uuid::Uuid;

use crate::processor::fixtures::alice_places_an_order;
use crate::processor::recovery::takeover::{PartitionSettings, prepare_partition};
use crate::processor::transaction::input::{Direct, Item};
use crate::processor::transaction::partition::PartitionWorker;
use crate::processor::transaction::producer::BatchError;
use crate::processor::transaction::visible::Visibility;
use testkit::open_transaction::OpenTransaction;

fn envelope(order_id: OrderId, command: Command) -> CommandEnvelope {
    crate::processor::fixtures::envelope(order_id, command, None)
}

fn command(json: serde_json::Value) -> Command {
    serde_json::from_value(json).expect("a command")
}

/// The record the HTTP tier would have produced at `offset` of the commands partition.
fn record(topics: &TopicSet, envelope: &CommandEnvelope, offset: i64) -> OwnedMessage {
    OwnedMessage::new(
        Some(serde_json::to_vec(envelope).expect("json")),
        Some(envelope.order_id.to_string().into_bytes()),
        topics.commands.clone(),
        Timestamp::NotAvailable,
        0,
        offset,
        None,
    )
}

fn take_over(kafka: &KafkaConfig, topics: &TopicSet) -> PartitionWorker {
    let settings = PartitionSettings {
        group: "hidden-commit".to_owned(),
        partitions: 1,
        answers: None,
        policy: schemas::order::Policy::default(),
    };
    prepare_partition(kafka, topics, 0, &settings, &AtomicBool::new(false))
        .expect("taken over")
        .0
}

/// Every committed record of partition 0 of `topic`, as (key, value, ce_type header).
fn committed(kafka: &KafkaConfig, topic: &str) -> Vec<(String, Vec<u8>, String)> {
    let mut records = Vec::new();
    event_store::read_to_end(kafka, topic, 0, event_store::Start::Beginning, |m| {
        let kind = event_store::wire::HeaderView::of(m)
            .text("ce_type")
            .unwrap_or_default()
            .to_owned();
        records.push((
            String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
            m.payload().unwrap_or_default().to_vec(),
            kind,
        ));
        Ok::<(), ()>(())
    })
    .expect("read");
    records
}

#[test]
fn a_commit_readers_cannot_see_is_not_answered_and_its_retry_decides_nothing_twice() {
    let prefix = testkit::topic_prefix();
    let kafka = KafkaConfig::new(testkit::bootstrap(), &prefix);
    let topics = TopicSet::new(&prefix);
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(topics.ensure(
            &kafka,
            TopicSpec {
                partitions: 1,
                replication: 1,
            },
        ))
        .expect("topics");
    let stopping = AtomicBool::new(false);
    let mut worker = take_over(&kafka, &topics);
    worker.visibility =
        Visibility::with_patience(&kafka, &topics, 0, Duration::from_secs(2)).expect("a reader");
    let order_id = OrderId::from_uuid(Uuid::now_v7());
    let steps = [
        alice_places_an_order(),
        command(serde_json::json!({"type": "ConfirmPayment", "data": {
            "payment_reference": "pay0001", "amount": {"amount_minor": 100, "currency": "EUR"}}})),
        command(serde_json::json!({"type": "ShipOrder", "data": {
            "carrier": "DHL", "tracking_number": "track0001"}})),
    ];
    for (offset, step) in steps.into_iter().enumerate() {
        let batch = vec![Item::Fetched(record(
            &topics,
            &envelope(order_id, step),
            offset as i64,
        ))];
        worker
            .process(&topics, batch, &stopping)
            .expect("committed");
    }
    // From here on, what this writer commits to the events partition is not yet readable.
    let holder = OpenTransaction::hold(
        &testkit::bootstrap(),
        &topics.events,
        &[0],
        &format!("{}-holder", topics.events),
    )
    .expect("a transaction held open");
    let deliver = envelope(
        order_id,
        command(serde_json::json!({"type": "DeliverOrder", "data": {}})),
    );
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    let direct = Direct {
        command: deliver.clone(),
        reply,
        handed: std::time::Instant::now(),
    };
    let hidden = worker.process(&topics, vec![Item::Direct(Box::new(direct))], &stopping);
    assert!(
        matches!(hidden, Err(BatchError::NotVisible(_))),
        "a commit readers cannot see is not trusted: {hidden:?}"
    );
    assert!(
        matches!(
            answer.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        ),
        "nothing is answered"
    );
    holder.abort().expect("abort");
    // The lane's answer to a failed batch: the partition taken over afresh, the command
    // sent again.
    drop(worker);
    let mut worker = take_over(&kafka, &topics);
    worker
        .process(
            &topics,
            vec![Item::Fetched(record(&topics, &deliver, 3))],
            &stopping,
        )
        .expect("the retry answered");

    let delivered = committed(&kafka, &topics.events)
        .into_iter()
        .filter(|(key, _, kind)| {
            *key == order_id.to_string() && kind == "dev.orderlog.order.delivered"
        })
        .count();
    assert_eq!(delivered, 1, "DeliverOrder decided once");
    let outcomes: Vec<serde_json::Value> = committed(&kafka, &topics.results)
        .into_iter()
        .filter_map(|(_, value, _)| serde_json::from_slice::<CommandResult>(&value).ok())
        .filter(|result| result.command_id == deliver.command_id)
        .map(|result| serde_json::to_value(&result.outcome).expect("json"))
        .collect();
    assert!(!outcomes.is_empty(), "the DeliverOrder was answered");
    assert!(
        outcomes.iter().all(|o| *o == outcomes[0]),
        "every answer to the DeliverOrder is its first: {outcomes:#?}"
    );
}
