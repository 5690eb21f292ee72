//! Partition rebuild: how fast a processor taking over a partition gets its state back,
//! from the events (a fold of the whole history) and from the snapshot changelog.

use std::time::{Duration, Instant};

use chrono::Utc;
use command_api::processor::rebuild::{from_events, rebuild};
use command_api::processor::slot::OrderSlot;
use command_api::processor::snapshots;
use event_store::{KafkaConfig, TopicSet, wire};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use schemas::command::{AddLine, Command, ConfirmPayment, NewLine, PlaceOrder};
use schemas::values::{
    Address, Currency, CustomerId, Money, OrderId, PaymentReference, Quantity, Sku,
};
use schemas::{CommandEnvelope, cloudevents};
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub(crate) struct Rebuild {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// Events to write into the partition (each order: placed, three lines added, paid).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
}

pub(crate) fn commands(order_id: OrderId) -> anyhow::Result<Vec<Command>> {
    let eur = Currency::parse("EUR")?;
    let line = |sku: &str| -> anyhow::Result<NewLine> {
        Ok(NewLine {
            sku: Sku::parse(sku)?,
            quantity: Quantity::new(2)?,
            unit_price: Money::new(995, eur)?,
        })
    };
    let _ = order_id;
    Ok(vec![
        Command::PlaceOrder(PlaceOrder {
            customer_id: CustomerId::parse("bench-customer")?,
            currency: eur,
            lines: vec![line("P-0")?],
            shipping_address: Address::new("Bench", "1 Road", None, "Berlin", "10115", "DE")?,
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

pub(crate) async fn run(args: Rebuild) -> anyhow::Result<()> {
    let (prefix, kafka, topics) = filled_log(&args.kafka.bootstrap, args.events).await?;

    let (kafka2, topics2) = (kafka.clone(), topics.clone());
    let started = Instant::now();
    let orders = tokio::task::spawn_blocking(move || from_events(&kafka2, &topics2, 0)).await??;
    let elapsed = started.elapsed();
    println!(
        "rebuild from events: {} events of {} orders in {:.2} s = {:.0} events/s",
        args.events,
        orders.len(),
        elapsed.as_secs_f64(),
        args.events as f64 / elapsed.as_secs_f64()
    );
    let (kafka2, topics2) = (kafka.clone(), topics.clone());
    let started = Instant::now();
    let (records, bytes) = tokio::task::spawn_blocking(move || {
        let mut seen = (0u64, 0usize);
        event_store::read_to_end::<()>(
            &kafka2,
            &topics2.snapshots,
            0,
            event_store::Start::Beginning,
            |message| {
                seen.0 += 1;
                seen.1 += message.payload_len();
                Ok(())
            },
        )
        .map(|_| seen)
        .map_err(|e| anyhow::anyhow!("reading snapshots: {e:?}"))
    })
    .await??;
    println!(
        "reading the snapshots without parsing (the ceiling): {records} records, {} MB in {:.2} s",
        bytes / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let rebuilt = tokio::task::spawn_blocking(move || rebuild(&kafka, &topics, 0)).await??;
    println!(
        "rebuild from snapshots ({:?}): {} orders in {:.2} s (parsed on each order's first command)",
        rebuilt.source,
        rebuilt.orders.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let parsed = tokio::task::spawn_blocking(move || rebuilt.orders.into_loaded())
        .await?
        .ok_or_else(|| anyhow::anyhow!("a snapshot is unreadable"))?;
    println!(
        "parsing every snapshot (what the orders' first commands share): {} orders in {:.2} s",
        parsed.len(),
        started.elapsed().as_secs_f64()
    );
    testkit::harness::clean::remove_topics(&args.kafka.bootstrap, &[&prefix]).await?;
    Ok(())
}

/// Fresh single-partition topics under a new `bench-` prefix, filled with `events` events:
/// the log every benchmark that reads one starts from.
pub(crate) async fn filled_log(
    bootstrap: &str,
    events: u64,
) -> anyhow::Result<(String, KafkaConfig, TopicSet)> {
    let (prefix, kafka, topics) = testkit::harness::stack::bench_topics(bootstrap, "", 1).await?;
    let (kafka2, topics2) = (kafka.clone(), topics.clone());
    tokio::task::spawn_blocking(move || fill(&kafka2, &topics2, events)).await??;
    Ok((prefix, kafka, topics))
}

/// Writes `events` events (and each order's final snapshot) into partition 0.
pub(crate) fn fill(kafka: &KafkaConfig, topics: &TopicSet, events: u64) -> anyhow::Result<()> {
    let producer = bulk_producer(kafka)?;
    let started = Instant::now();
    let mut written = 0;
    while written < events {
        let order_id = OrderId::generate();
        let mut slot = OrderSlot::default();
        for command in commands(order_id)? {
            let envelope = CommandEnvelope {
                command_id: Uuid::now_v7(),
                order_id,
                expected_version: None,
                correlation_id: Uuid::now_v7(),
                issued_at: Utc::now(),
                fingerprint: String::new(),
                traceparent: None,
                acting_for: None,
                command,
            };
            for event in slot.handle(&envelope, Utc::now())?.events {
                let record = cloudevents::encode(&event);
                let headers = wire::headers(&record);
                send(
                    &producer,
                    BaseRecord::to(&topics.events)
                        .partition(0)
                        .key(record.key.as_bytes())
                        .payload(record.value.as_slice())
                        .headers(headers),
                );
                written += 1;
            }
        }
        let (snapshot, headers) = snapshots::encode(&slot);
        let key = order_id.to_string();
        send(
            &producer,
            BaseRecord::to(&topics.snapshots)
                .partition(0)
                .key(key.as_bytes())
                .payload(snapshot.as_slice())
                .headers(headers),
        );
    }
    producer.flush(Duration::from_secs(60))?;
    println!(
        "wrote {written} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A producer for filling a benchmark's log fast: large compressed batches.
pub(crate) fn bulk_producer(
    kafka: &KafkaConfig,
) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    Ok(kafka
        .client()
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()?)
}

pub(crate) fn send<'a>(
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
