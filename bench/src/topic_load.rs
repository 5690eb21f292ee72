//! `bench topic-latency`: the platform's commands-topic intake, as a service with a Kafka
//! client uses it (docs/api.md, "Through the commands topic"): PlaceOrder envelopes produced to
//! the commands topic at a fixed rate (open loop, each timed from its intended start)
//! with the platform's partitioner, each answered when its result arrives on the results
//! topic (read_committed). Beside `bench latency` (commands over HTTP, handed to their
//! partition's lane) and `bench floor --intake topic` (the same trip's bare Kafka work).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet};
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use schemas::values::OrderId;
use schemas::{Command, CommandEnvelope, CommandResult};
use uuid::Uuid;

use crate::floor::{command_producer, schedule, summarise};
use crate::stats;

#[derive(Debug, clap::Args)]
pub(crate) struct TopicLatency {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// The platform's topic prefix (`make up`: none).
    #[arg(long, env = "ORDERLOG_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// The platform's partitions.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Commands per second.
    #[arg(long, default_value_t = 300)]
    rate: u64,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

/// How long after the last command its results may still arrive.
const PATIENCE: Duration = Duration::from_secs(10);

/// A PlaceOrder for a new order, as a service would write it.
fn place(n: u64) -> anyhow::Result<CommandEnvelope> {
    let command: Command = serde_json::from_value(serde_json::json!({
        "type": "PlaceOrder",
        "data": {
            "customer_id": format!("cust-{}", n % 10_000),
            "currency": "EUR",
            "lines": [{ "sku": "A-1", "quantity": 1, "unit_price": { "amount_minor": 1999, "currency": "EUR" } }],
            "shipping_address": { "name": "Load Test", "line1": "1 Bench St", "city": "Berlin", "postal_code": "10115", "country": "DE" }
        }
    }))?;
    let (command_id, order_id) = (Uuid::now_v7(), OrderId::from_uuid(Uuid::now_v7()));
    Ok(CommandEnvelope {
        command_id,
        order_id,
        expected_version: None,
        correlation_id: command_id,
        issued_at: chrono::Utc::now(),
        fingerprint: CommandEnvelope::fingerprint_of(order_id, &command, None),
        traceparent: None,
        acting_for: None,
        command,
    })
}

/// The intake's latency at `rate` for `seconds`, and how many commands got no result.
pub(crate) async fn measure(
    bootstrap: &str,
    topic_prefix: &str,
    partitions: i32,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(stats::Summary, u64)> {
    let kafka = KafkaConfig::new(bootstrap, topic_prefix);
    let topics = TopicSet::new(topic_prefix);
    let (warm_up, total, interval) = schedule(rate, seconds)?;
    let commands = (0..total).map(place).collect::<anyhow::Result<Vec<_>>>()?;
    let index: Arc<HashMap<Uuid, usize>> = Arc::new(
        commands
            .iter()
            .enumerate()
            .map(|(n, c)| (c.command_id, n))
            .collect(),
    );
    let reader = {
        let (kafka, topics, index) = (kafka.clone(), topics.clone(), index.clone());
        std::thread::spawn(move || results(&kafka, &topics, partitions, &index))
    };
    // The reader's assignment before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let producer = command_producer(&kafka)?;
    let started = Instant::now();
    for (n, command) in commands.iter().enumerate() {
        tokio::time::sleep_until((started + interval * u32::try_from(n)?).into()).await;
        let payload = serde_json::to_vec(command)?;
        let key = command.order_id.to_string();
        let record: BaseRecord<'_, str, [u8]> = BaseRecord::to(&topics.commands)
            .key(key.as_str())
            .payload(payload.as_slice());
        producer
            .send(record)
            .map_err(|(error, _)| anyhow::anyhow!("produce: {error}"))?;
    }
    producer.flush(PATIENCE)?;
    let arrivals = tokio::task::spawn_blocking(move || reader.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the results reader panicked"))??;
    summarise(&arrivals, started, interval, warm_up)
}

/// Reads the results topic from its end (read_committed), noting when each command's
/// result arrived, until every command has one or none arrived for [`PATIENCE`].
fn results(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partitions: i32,
    index: &HashMap<Uuid, usize>,
) -> anyhow::Result<Vec<Option<Instant>>> {
    let consumer: BaseConsumer = kafka
        .read_committed_consumer("bench-topic-latency")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let wanted: Vec<(&str, i32)> = (0..partitions)
        .map(|p| (topics.results.as_str(), p))
        .collect();
    event_store::assign_at_end(&consumer, &wanted, PATIENCE)?;
    let mut arrivals = vec![None; index.len()];
    let (mut received, mut last) = (0, Instant::now());
    while received < index.len() && last.elapsed() < PATIENCE {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let now = Instant::now();
        let result = message?
            .payload()
            .and_then(|p| serde_json::from_slice::<CommandResult>(p).ok());
        let Some(n) = result.and_then(|r| index.get(&r.command_id).copied()) else {
            continue;
        };
        if let Some(slot) = arrivals.get_mut(n).filter(|slot| slot.is_none()) {
            *slot = Some(now);
            received += 1;
            last = now;
        }
    }
    Ok(arrivals)
}

pub(crate) async fn run(args: TopicLatency) -> anyhow::Result<()> {
    let (summary, missing) = measure(
        &args.kafka.bootstrap,
        &args.topic_prefix,
        args.partitions,
        args.rate,
        args.seconds,
    )
    .await?;
    println!(
        "commands-topic intake at {} commands/s for {} s ({missing} without a result): {summary}",
        args.rate, args.seconds
    );
    Ok(())
}
