//! Deadlines fired by the partition's owner, inside its transactions, against the real
//! broker: an unpaid order expires by itself, once; a payment before the due time wins; a
//! payment after it is refused; a deadline pending at a takeover fires after it, once.

use std::time::Duration;

use command_api::config::Role;
use reqwest::Method;
use serde_json::Value;

use crate::support::*;

/// A platform whose payment window is `seconds`.
fn with_window(prefix: &str, seconds: i64) -> command_api::config::Config {
    let mut config = test_config(prefix, Role::All);
    config.payment_window = chrono::Duration::seconds(seconds);
    config
}

fn types(events: &[PlainEvent], order: &str) -> Vec<String> {
    events_of(events, order)
        .iter()
        .map(|e| {
            e.header("ce_type")
                .trim_start_matches("dev.orderlog.order.")
                .to_owned()
        })
        .collect()
}

/// Reads the events until `order` has `count` of them (or 30 s passed).
fn events_until(topic: &str, order: &str, count: usize) -> Vec<PlainEvent> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let events = read_events(topic, 0);
        if events_of(&events, order).len() >= count || std::time::Instant::now() > deadline {
            return events;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// [`events_until`], off the async runtime.
async fn events_of_order(topic: String, order: &str, count: usize) -> Vec<PlainEvent> {
    let order = order.to_owned();
    tokio::task::spawn_blocking(move || events_until(&topic, &order, count))
        .await
        .expect("read")
}

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("a time")
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn an_unpaid_order_expires_by_itself_once_and_a_payment_before_its_due_time_wins() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(with_window(&prefix, 2)).await;
    let unpaid = app.place_default().await;
    let paid = app.place_default().await;
    let pay = serde_json::json!({ "payment_reference": "psp-1", "amount": money(1250) });
    let reply = app
        .send(
            Method::POST,
            &format!("/v1/orders/{paid}/payment"),
            Some(pay.clone()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let late = app.place_default().await;

    let events = events_of_order(app.events_topic(), &unpaid, 2).await;
    assert_eq!(types(&events, &unpaid), ["placed", "expired"]);
    let expired = &events_of(&events, &unpaid)[1];
    assert_eq!(expired.value["cause"], "payment_timeout");
    let fired_at = time(&Value::String(expired.header("ce_time").to_owned()));
    let lateness = fired_at - time(&expired.value["payment_due_at"]);
    assert!(
        lateness >= chrono::Duration::zero() && lateness < chrono::Duration::seconds(3),
        "fired {lateness} after its due time"
    );
    assert_eq!(
        types(&events, &paid),
        ["placed", "payment_confirmed"],
        "the payment won"
    );

    // Past its window, the third order's payment is refused: it expired (by the timer, or
    // at the latest when the payment, received after the due time, came to be decided).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reply = app
        .send(
            Method::POST,
            &format!("/v1/orders/{late}/payment"),
            Some(pay),
        )
        .await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert_eq!(
        reply.body["code"], "payment_window_closed",
        "{}",
        reply.body
    );
    let closed = &reply.body["rejection"];
    assert!(
        time(&closed["received_at"]) >= time(&closed["payment_due_at"]),
        "{}",
        reply.body
    );
    let topic = app.events_topic();
    let late_id = late.clone();
    let events = tokio::task::spawn_blocking(move || events_until(&topic, &late_id, 2))
        .await
        .expect("read");
    assert_eq!(types(&events, &late), ["placed", "expired"]);
    app.stop().await;
}

#[tokio::test]
async fn a_deadline_pending_at_a_takeover_fires_after_it_once() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(with_window(&prefix, 4)).await;
    let order = app.place_default().await;
    app.stop().await;
    // The next owner finds the due time in the order's snapshot record, unparsed.
    let app = TestApp::spawn_with(with_window(&prefix, 4)).await;
    let events = events_of_order(app.events_topic(), &order, 2).await;
    assert_eq!(types(&events, &order), ["placed", "expired"]);
    app.stop().await;
    // And the one after that fires nothing again.
    let app = TestApp::spawn_with(with_window(&prefix, 4)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let topic = app.events_topic();
    let events = tokio::task::spawn_blocking(move || read_events(&topic, 2))
        .await
        .expect("read");
    assert_eq!(types(&events, &order), ["placed", "expired"]);
    app.stop().await;
}

#[tokio::test]
async fn a_payment_waiting_in_the_commands_topic_at_a_takeover_wins_over_its_due_deadline() {
    let prefix = unique_prefix();
    // A window long enough for the payment to be received before it closes, even on a
    // loaded machine (the restarts below take seconds).
    let window = 15;
    let app = TestApp::spawn_with(with_window(&prefix, window)).await;
    let order = app.place_default().await;
    app.stop().await;
    let placed = events_of_order(app_events_topic(&prefix), &order, 1).await;
    let due = time(&events_of(&placed, &order)[0].value["payment_due_at"]);
    // No processor runs: the payment, received before the due time, waits in the commands
    // topic (its caller hears no result in time).
    let mut intake = through_topic(&prefix, Role::Http);
    intake.result_timeout_ms = 500;
    let http = TestApp::start(intake).await;
    let pay = serde_json::json!({ "payment_reference": "psp-1", "amount": money(1250) });
    let reply = http
        .send(
            Method::POST,
            &format!("/v1/orders/{order}/payment"),
            Some(pay),
        )
        .await;
    assert!(
        chrono::Utc::now() < due,
        "the payment was received before the due time"
    );
    assert_ne!(
        reply.status, 200,
        "no processor to decide it: {}",
        reply.body
    );
    http.stop().await;
    let until_due = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_due + Duration::from_secs(1)).await;
    // The next owner finds the deadline due and the payment in its backlog: the payment is
    // decided first.
    let app = TestApp::spawn_with(with_window(&prefix, window)).await;
    let events = events_of_order(app.events_topic(), &order, 2).await;
    assert_eq!(types(&events, &order), ["placed", "payment_confirmed"]);
    app.stop().await;
}

fn app_events_topic(prefix: &str) -> String {
    event_store::TopicSet::new(prefix).events
}

#[tokio::test]
async fn a_payment_a_client_produced_after_the_due_time_counts_from_when_kafka_took_it() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(with_window(&prefix, 2)).await;
    let order = app.place_default().await;
    let events = events_of_order(app.events_topic(), &order, 2).await;
    assert_eq!(types(&events, &order), ["placed", "expired"]);
    let due = time(&events_of(&events, &order)[0].value["payment_due_at"]);
    // A client stamped its payment a second before the due time but produced it only now,
    // after the order expired: the platform received it when Kafka appended it.
    let order_id = schemas::values::OrderId::parse(&order).expect("an order id");
    let mut payment = crate::direct::envelope(
        order_id,
        serde_json::json!({"type": "ConfirmPayment", "data": {
            "payment_reference": "psp-late", "amount": money(1250) }}),
        None,
    );
    payment.issued_at = due - chrono::Duration::seconds(1);
    let producing = chrono::Utc::now();
    crate::direct::produce(&prefix, std::slice::from_ref(&payment)).await;
    let results_topic = event_store::TopicSet::new(&prefix).results;
    let answer = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let results = crate::answers::committed_results(&results_topic);
            if let Some(found) = results
                .into_iter()
                .find(|r| r.command_id == payment.command_id)
            {
                return found;
            }
            assert!(std::time::Instant::now() < deadline, "no result");
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .expect("read");
    let schemas::CommandOutcome::Rejected {
        rejection:
            schemas::Rejection::PaymentWindowClosed {
                payment_due_at,
                received_at,
            },
    } = answer.outcome
    else {
        panic!("{answer:?}")
    };
    assert_eq!(payment_due_at, due);
    assert!(
        received_at >= producing - chrono::Duration::milliseconds(1),
        "received at {received_at}, produced from {producing}"
    );
    app.stop().await;
}

/// Produces `command` to the commands topic in a transaction of its own, as a Kafka client
/// writing commands transactionally would: the partition then ends in a commit marker.
fn produce_in_a_transaction(prefix: &str, command: &schemas::CommandEnvelope) {
    use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
    let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> =
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", bootstrap())
            .set("transactional.id", format!("{prefix}client"))
            .create()
            .expect("producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init");
    producer.begin_transaction().expect("begin");
    let topic = event_store::TopicSet::new(prefix).commands;
    let (key, payload) = (
        command.order_id.to_string(),
        serde_json::to_vec(command).expect("json"),
    );
    let partition = event_store::partitioner::partition_of(key.as_bytes(), PARTITIONS);
    producer
        .send(
            BaseRecord::to(&topic)
                .key(&key)
                .payload(&payload)
                .partition(partition),
        )
        .map_err(|(e, _)| e)
        .expect("sent");
    producer
        .commit_transaction(Duration::from_secs(30))
        .expect("committed");
}

#[tokio::test]
async fn deadlines_fire_on_a_partition_whose_commands_end_in_a_commit_marker() {
    let prefix = unique_prefix();
    let app = TestApp::spawn_with(with_window(&prefix, 3)).await;
    let order = app.place_default().await;
    // Another order on the same partition, placed by a Kafka client in a transaction: the
    // commands partition ends in its commit marker, which no fetch hands over.
    let key = |id: &schemas::values::OrderId| {
        event_store::partitioner::partition_of(id.to_string().as_bytes(), PARTITIONS)
    };
    let first = schemas::values::OrderId::parse(&order).expect("an order id");
    let other =
        std::iter::repeat_with(|| schemas::values::OrderId::from_uuid(uuid::Uuid::now_v7()))
            .find(|id| key(id) == key(&first))
            .expect("an order id on the same partition");
    let place = crate::direct::envelope(
        other,
        serde_json::json!({"type": "PlaceOrder", "data": place_body()}),
        None,
    );
    let (producing, prefix_for) = (place.clone(), prefix.clone());
    tokio::task::spawn_blocking(move || produce_in_a_transaction(&prefix_for, &producing))
        .await
        .expect("produced");
    // Both orders expire by themselves.
    let topic = app.events_topic();
    for order in [order.clone(), other.to_string()] {
        let events = events_of_order(topic.clone(), &order, 2).await;
        assert_eq!(types(&events, &order), ["placed", "expired"]);
    }
    app.stop().await;
}
