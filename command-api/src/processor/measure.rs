//! What the benchmarks need from the processor's insides, behind the `measure` feature:
//! filling a partition with a history as the processor writes it (events and each order's
//! snapshot), timing its rebuild, and orders' snapshots for the memory benchmark. The
//! benchmarks (`bench rebuild`, `bench memory`, and the ones that start from a filled log)
//! call these; the processor's modules stay private.

use std::time::{Duration, Instant};

use chrono::Utc;
use event_store::{KafkaConfig, TopicSet, wire};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use schemas::command::{
    AddLine, Command, ConfirmPayment, DeliverOrder, NewLine, PlaceOrder, ShipOrder,
};
use schemas::values::{
    Address, Carrier, Currency, CustomerId, Money, OrderId, PaymentReference, Quantity, Sku,
    TrackingNumber,
};
use schemas::{CommandEnvelope, CommandOutcome, cloudevents};
use uuid::Uuid;

use crate::processor::recovery::rebuild::{Source, from_events, rebuild};
use crate::processor::store::slot::OrderSlot;
use crate::processor::store::snapshots;

/// Writes orders into partition 0 until `events` events are written: each order placed,
/// given three more lines and paid, then its snapshot. Returns how many were written.
pub fn fill_history(kafka: &KafkaConfig, topics: &TopicSet, events: u64) -> anyhow::Result<u64> {
    let producer = bulk_producer(kafka)?;
    let mut written = 0;
    while written < events {
        let order_id = OrderId::generate();
        let mut slot = OrderSlot::default();
        for command in paid_order()? {
            for event in slot
                .handle(
                    &envelope(order_id, command),
                    Utc::now(),
                    &schemas::order::Policy::default(),
                )?
                .events
            {
                let record = cloudevents::encode(&event);
                send(
                    &producer,
                    BaseRecord::to(&topics.events)
                        .partition(0)
                        .key(record.key.as_bytes())
                        .payload(record.value.as_slice())
                        .headers(wire::headers(&record)),
                );
                written += 1;
            }
        }
        let (snapshot, headers) = snapshots::encode(&slot);
        send(
            &producer,
            BaseRecord::to(&topics.snapshots)
                .partition(0)
                .key(order_id.to_string().as_bytes())
                .payload(snapshot.as_slice())
                .headers(headers),
        );
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(written)
}

/// The timings of rebuilding partition 0 each way a takeover can.
#[derive(Debug, Clone)]
pub struct RebuildFigures {
    /// Folding every event (the path when a snapshot is unreadable): orders, time.
    pub from_events: (usize, Duration),
    /// Reading the snapshots without parsing them (the ceiling): records, bytes, time.
    pub raw_snapshots: (u64, usize, Duration),
    /// The takeover's rebuild (snapshots kept unparsed until an order's first command):
    /// whether it came from snapshots, orders, time.
    pub rebuild: (bool, usize, Duration),
    /// Parsing every snapshot afterwards (what the orders' first commands share).
    pub parse_all: (usize, Duration),
}

/// Times each way of rebuilding partition 0. Blocking.
pub fn time_rebuild(kafka: &KafkaConfig, topics: &TopicSet) -> anyhow::Result<RebuildFigures> {
    let started = Instant::now();
    let folded = from_events(kafka, topics, 0)?.len();
    let from_events = (folded, started.elapsed());

    let started = Instant::now();
    let mut seen = (0u64, 0usize);
    event_store::read_to_end::<()>(
        kafka,
        &topics.snapshots,
        0,
        event_store::Start::Beginning,
        |message| {
            seen.0 += 1;
            seen.1 += message.payload_len();
            Ok(())
        },
    )
    .map_err(|e| anyhow::anyhow!("reading snapshots: {e:?}"))?;
    let raw_snapshots = (seen.0, seen.1, started.elapsed());

    let started = Instant::now();
    let rebuilt = rebuild(kafka, topics, 0)?;
    let rebuild = (
        matches!(rebuilt.source, Source::Snapshots),
        rebuilt.orders.len(),
        started.elapsed(),
    );

    let started = Instant::now();
    let parsed = rebuilt
        .orders
        .into_loaded()
        .ok_or_else(|| anyhow::anyhow!("a snapshot is unreadable"))?
        .len();
    Ok(RebuildFigures {
        from_events,
        raw_snapshots,
        rebuild,
        parse_all: (parsed, started.elapsed()),
    })
}

/// One order as the platform leaves it, for the memory benchmark: placed, three lines
/// added, paid; and when `delivered`, shipped and delivered too. Every answer is remembered,
/// as the processor does.
#[derive(Debug, Clone)]
pub struct OrderTemplate(OrderSlot);

impl OrderTemplate {
    pub fn new(delivered: bool) -> anyhow::Result<Self> {
        let order_id = OrderId::generate();
        let mut commands = paid_order()?;
        if delivered {
            commands.push(Command::ShipOrder(ShipOrder {
                carrier: Carrier::parse("DHL")?,
                tracking_number: TrackingNumber::parse("JD014600003DE")?,
            }));
            commands.push(Command::DeliverOrder(DeliverOrder {}));
        }
        let mut slot = OrderSlot::default();
        for command in commands {
            let handled = slot.handle(
                &envelope(order_id, command),
                Utc::now(),
                &schemas::order::Policy::default(),
            )?;
            anyhow::ensure!(
                matches!(handled.outcome, CommandOutcome::Accepted { .. }),
                "the template order's command was refused: {:?}",
                handled.outcome
            );
        }
        Ok(Self(slot))
    }

    /// Its snapshot's size in bytes, in the current format and in format 1.
    pub fn snapshot_bytes(&self) -> (usize, usize) {
        (
            snapshots::encode(&self.0).0.len(),
            snapshots::encode_format_1(&self.0).len(),
        )
    }

    /// Writes `orders` snapshots of orders like this one (fresh ids) into partition 0;
    /// their bytes. Blocking.
    pub fn fill(&self, kafka: &KafkaConfig, topics: &TopicSet, orders: u64) -> anyhow::Result<u64> {
        let producer = bulk_producer(kafka)?;
        let mut bytes = 0;
        for _ in 0..orders {
            let (value, headers) = snapshots::encode(&self.another());
            bytes += value.len() as u64;
            send(
                &producer,
                BaseRecord::to(&topics.snapshots)
                    .partition(0)
                    .key(OrderId::generate().to_string().as_bytes())
                    .payload(value.as_slice())
                    .headers(headers),
            );
        }
        producer.flush(Duration::from_secs(120))?;
        Ok(bytes)
    }

    /// The template with fresh command and event ids, as another order would have it.
    fn another(&self) -> OrderSlot {
        let mut slot = self.0.clone();
        for recent in &mut slot.recent {
            recent.command_id = Uuid::now_v7();
            if let CommandOutcome::Accepted { events, .. } = &mut recent.outcome {
                for event in events {
                    event.id = Uuid::now_v7();
                }
            }
        }
        slot
    }
}

/// Placed with one line, three lines added, paid.
fn paid_order() -> anyhow::Result<Vec<Command>> {
    let eur = Currency::parse("EUR")?;
    let line = |sku: &str| -> anyhow::Result<NewLine> {
        Ok(NewLine {
            sku: Sku::parse(sku)?,
            quantity: Quantity::new(2)?,
            unit_price: Money::new(995, eur)?,
        })
    };
    Ok(vec![
        Command::PlaceOrder(PlaceOrder {
            customer_id: CustomerId::parse("bench-customer")?,
            currency: eur,
            lines: vec![line("P-0")?],
            shipping_address: Address::new("Bench", "1 Road", None, "Berlin", "10115", "DE")?,
            payment_window_seconds: None,
        }),
        Command::AddLine(AddLine { line: line("P-1")? }),
        Command::AddLine(AddLine { line: line("P-2")? }),
        Command::AddLine(AddLine { line: line("P-3")? }),
        Command::ConfirmPayment(ConfirmPayment {
            payment_reference: PaymentReference::parse("bench-pay")?,
            amount: Money::new(4 * 2 * 995, eur)?,
        }),
    ])
}

fn envelope(order_id: OrderId, command: Command) -> CommandEnvelope {
    CommandEnvelope {
        command_id: Uuid::now_v7(),
        order_id,
        expected_version: None,
        correlation_id: Uuid::now_v7(),
        issued_at: Utc::now(),
        fingerprint: CommandEnvelope::fingerprint_of(order_id, &command, None),
        traceparent: None,
        acting_for: None,
        command,
    }
}

/// A producer for filling a benchmark's log fast: large compressed batches.
fn bulk_producer(kafka: &KafkaConfig) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    Ok(kafka
        .client()
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()?)
}

/// Sends, waiting while the producer's queue is full.
fn send<'a>(
    producer: &ThreadedProducer<DefaultProducerContext>,
    mut record: BaseRecord<'a, [u8], [u8]>,
) {
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, back)) => {
                producer.poll(Duration::from_millis(5));
                record = back;
            }
        }
    }
}
