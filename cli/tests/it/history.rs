//! A made-up history written straight to an events topic: orders over several past days,
//! every event type, some placements at schema version 1 (as written before deadlines),
//! in one committed transaction, and an aborted transaction whose events must never be
//! read. What the export tests read, and the projectors project like any other events.

use std::time::Duration;

use chrono::{DateTime, Duration as Span, Utc};
use event_store::partitioner::partition_of;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use schemas::event::Event;
use schemas::values::OrderId;
use schemas::{EventEnvelope, cloudevents};
use serde_json::{Value, json};
use uuid::Uuid;

/// An event of the history and the payload it goes out with (an older version's, for a
/// few placements).
pub(crate) struct Written {
    pub(crate) envelope: EventEnvelope,
    old_placement: Option<Value>,
}

impl Written {
    /// A placement that goes out at schema version 1 (no due time).
    pub(crate) fn is_old_placement(&self) -> bool {
        self.old_placement.is_some()
    }
}

fn money(amount: i64) -> Value {
    json!({ "amount_minor": amount, "currency": "EUR" })
}

fn line(sku: &str, quantity: i64, unit: i64) -> Value {
    json!({ "sku": sku, "quantity": quantity, "unit_price": money(unit), "line_total": money(quantity * unit) })
}

fn address(city: &str) -> Value {
    json!({ "name": "Ada Lovelace", "line1": "1 Analytical Way", "city": city, "postal_code": "10115", "country": "DE" })
}

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// How many days before today (UTC) the history starts: far enough that every order's
/// whole life (up to three days) is in the past (Kafka refuses times more than an hour
/// ahead).
pub(crate) const DAYS_BACK: i64 = 3;

/// The events of `count` orders placed over the `days` days before [`DAYS_BACK`], each order
/// on day `i % days`. Their fates cycle: delivered (sometimes overdue first), paid then
/// cancelled with a refund, cancelled unpaid, expired.
pub(crate) fn orders(count: usize, days: i64) -> Vec<Written> {
    let today = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let mut written = Vec::new();
    for i in 0..count {
        let order_id = OrderId::generate();
        let day = i64::try_from(i).expect("small") % days.max(1) + 1;
        let placed_at =
            today - Span::days(day + DAYS_BACK) + Span::hours(8) + Span::seconds(i as i64);
        let correlation = Uuid::new_v4();
        let mut total = 1250;
        let mut events: Vec<(DateTime<Utc>, &str, Value)> = vec![];
        let due = placed_at + Span::minutes(30);
        let placement = json!({
            "customer_id": format!("cust-{}", i % 7),
            "currency": "EUR",
            "lines": [line("A-1", 2, 500), line("B-2", 1, 250)],
            "shipping_address": address("Berlin"),
            "order_total": money(1250),
            "payment_due_at": at(due),
        });
        events.push((placed_at, "placed", placement.clone()));
        if i % 4 == 1 {
            total += 300;
            events.push((
                placed_at + Span::minutes(1),
                "line_added",
                json!({ "line": line("C-3", 3, 100), "order_total": money(total) }),
            ));
            total -= 250;
            events.push((
                placed_at + Span::minutes(2),
                "line_removed",
                json!({ "line": line("B-2", 1, 250), "order_total": money(total) }),
            ));
        }
        if i % 5 == 2 {
            events.push((
                placed_at + Span::minutes(3),
                "shipping_address_changed",
                json!({ "shipping_address": address("Paris") }),
            ));
        }
        let paid_at = placed_at + Span::minutes(10);
        let ship_by = paid_at + Span::hours(48);
        let pay = json!({ "payment_reference": format!("pay-{i}"), "amount": money(total), "ship_by": at(ship_by) });
        match i % 4 {
            0 => {
                events.push((paid_at, "payment_confirmed", pay));
                if i % 8 == 0 {
                    events.push((
                        ship_by,
                        "shipment_overdue",
                        json!({ "ship_by": at(ship_by) }),
                    ));
                }
                let shipped = ship_by + Span::hours(1);
                events.push((
                    shipped,
                    "shipped",
                    json!({ "carrier": "DHL", "tracking_number": format!("JD{i:012}") }),
                ));
                events.push((shipped + Span::hours(20), "delivered", json!({})));
            }
            1 => {
                events.push((paid_at, "payment_confirmed", pay));
                events.push((
                    paid_at + Span::hours(3),
                    "cancelled",
                    json!({ "reason": "changed their mind", "refund_due": money(total) }),
                ));
            }
            2 => events.push((
                placed_at + Span::minutes(5),
                "cancelled",
                json!({ "reason": "found it cheaper" }),
            )),
            _ => events.push((
                due,
                "expired",
                json!({ "cause": "payment_timeout", "payment_due_at": at(due) }),
            )),
        }
        for (version, (time, short, data)) in (1u64..).zip(events) {
            let event_type = format!("dev.orderlog.order.{short}");
            let current = schemas::event::EVENT_TYPES
                .iter()
                .find(|(t, _)| *t == event_type)
                .map(|(_, v)| *v)
                .expect("a type");
            let event = Event::from_payload(&event_type, current, data).expect("a valid event");
            let old_placement = (short == "placed" && i % 7 == 3).then(|| {
                let mut old = placement.clone();
                old.as_object_mut()
                    .expect("object")
                    .remove("payment_due_at");
                old
            });
            written.push(Written {
                envelope: EventEnvelope {
                    event_id: Uuid::now_v7(),
                    order_id,
                    order_version: version,
                    occurred_at: time,
                    correlation_id: correlation,
                    causation_id: Uuid::new_v4(),
                    traceparent: None,
                    event,
                },
                old_placement,
            });
        }
    }
    written
}

fn producer(id: &str) -> BaseProducer {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", crate::support::bootstrap())
        .set("transactional.id", id)
        .set("linger.ms", "20")
        .create()
        .expect("producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init transactions");
    producer
}

fn send(producer: &BaseProducer, topic: &str, partitions: i32, written: &Written) {
    let mut record = cloudevents::encode(&written.envelope);
    if let Some(old) = &written.old_placement {
        record.value = serde_json::to_vec(old).expect("json");
        for (name, value) in &mut record.headers {
            if *name == "ce_schemaversion" {
                *value = "1".to_owned();
            }
        }
    }
    let key = written.envelope.order_id.to_string();
    let headers = event_store::wire::headers(&record);
    let mut pending = BaseRecord::to(topic)
        .partition(partition_of(key.as_bytes(), partitions))
        .key(key.as_bytes())
        .payload(record.value.as_slice())
        .timestamp(written.envelope.occurred_at.timestamp_millis())
        .headers(headers);
    loop {
        match producer.send(pending) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                producer.poll(Duration::from_millis(50));
                pending = returned;
            }
            Err((error, _)) => panic!("producing the history: {error}"),
        }
    }
}

/// Writes `history` to `topic` in one committed transaction, then one more order's
/// placement in a transaction that is aborted. Returns the events committed.
pub(crate) fn write(topic: &str, partitions: i32, history: &[Written]) -> usize {
    let producer = producer(&format!("history-{}", Uuid::new_v4().simple()));
    producer.begin_transaction().expect("begin");
    for written in history {
        send(&producer, topic, partitions, written);
    }
    producer
        .commit_transaction(Duration::from_secs(60))
        .expect("commit");
    producer.begin_transaction().expect("begin");
    for aborted in orders(1, 1).iter().take(1) {
        send(&producer, topic, partitions, aborted);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    producer
        .abort_transaction(Duration::from_secs(30))
        .expect("abort");
    history.len()
}
