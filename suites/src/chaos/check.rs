//! The checks once the faults have healed, against the log and the read models.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// One check and what it found.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) name: &'static str,
    pub(crate) passed: bool,
    pub(crate) detail: String,
}

/// Calls `each` with every committed record of `topic`, read from the beginning to the end
/// of every partition as a plain read_committed consumer would.
pub(crate) fn read_committed(
    bootstrap: &str,
    topic: &str,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> anyhow::Result<()> {
    let mut config = ClientConfig::new();
    config
        .set("group.id", "chaos-checker")
        .set("enable.partition.eof", "true");
    let (consumer, partitions) = every_partition(bootstrap, topic, config)?;
    let mut ended = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while ended < partitions && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => each(&message),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(error)) => eprintln!("checker consumer: {error}"),
            None => {}
        }
    }
    anyhow::ensure!(
        ended >= partitions,
        "{topic} was not read to its end within 5 min"
    );
    Ok(())
}

/// A read_committed consumer configured by `config`, assigned to every partition of
/// `topic` from its beginning; and how many partitions that is.
pub(crate) fn every_partition(
    bootstrap: &str,
    topic: &str,
    mut config: ClientConfig,
) -> anyhow::Result<(BaseConsumer, usize)> {
    let consumer: BaseConsumer = config
        .set("bootstrap.servers", bootstrap)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len());
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    Ok((consumer, partitions))
}

/// The value of header `name`, as text.
pub(crate) fn header(message: &impl Message, name: &str) -> Option<String> {
    message
        .headers()
        .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// How many times each event id is in the committed log (read as a plain read_committed
/// consumer would).
pub(crate) fn committed_event_ids(
    bootstrap: &str,
    topic: &str,
) -> anyhow::Result<HashMap<String, u32>> {
    let mut ids: HashMap<String, u32> = HashMap::new();
    read_committed(bootstrap, topic, |message| {
        if let Some(id) = header(message, "ce_id") {
            *ids.entry(id).or_default() += 1;
        }
    })?;
    Ok(ids)
}

/// Every acknowledged event of `acknowledged` is in the committed events topic of the
/// platform under `prefix`, and no event id is there twice.
pub(crate) async fn acknowledged_once(
    bootstrap: &str,
    prefix: &str,
    acknowledged: &[String],
) -> anyhow::Result<Outcome> {
    let committed = {
        let (bootstrap, topic) = (
            bootstrap.to_owned(),
            event_store::TopicSet::new(prefix).events,
        );
        tokio::task::spawn_blocking(move || committed_event_ids(&bootstrap, &topic)).await??
    };
    let missing = acknowledged
        .iter()
        .filter(|id| !committed.contains_key(*id))
        .count();
    let twice = committed.values().filter(|n| **n > 1).count();
    Ok(Outcome {
        name: "every acknowledged command's events in the log exactly once",
        passed: missing == 0 && twice == 0,
        detail: format!(
            "{} acknowledged events, {} committed events; {missing} missing, {twice} event ids twice",
            acknowledged.len(),
            committed.len()
        ),
    })
}

/// `orderlog verify`: the log's own invariants and the read models against it; retried
/// while the projections catch up (a difference that stays is a failure).
pub(crate) fn verify(cli: &Path, bootstrap: &str, prefix: &str, database_url: &str) -> Outcome {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = Command::new(cli)
            .arg("verify")
            .env("ORDERLOG_KAFKA_BOOTSTRAP", bootstrap)
            .env("ORDERLOG_TOPIC_PREFIX", prefix)
            .env("ORDERLOG_DATABASE_URL", database_url)
            .output();
        let (passed, detail) = match run {
            Ok(out) => (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stderr).trim(),
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .take(10)
                        .map(|l| format!("\n    {l}"))
                        .collect::<String>()
                ),
            ),
            Err(error) => (false, format!("{}: {error}", cli.display())),
        };
        if passed || Instant::now() > deadline {
            return Outcome {
                name: "orderlog verify: versions 1..n once, no command applied twice, results agree, read models equal to the log",
                passed,
                detail,
            };
        }
        std::thread::sleep(Duration::from_secs(3));
    }
}
