//! The platform's topics: their names, sizes, and creation or verification at start-up.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::KafkaConfig;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// How many partitions and replicas the platform's topics get when they are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    pub partitions: i32,
    pub replication: i32,
}

/// The names of the platform's topics, derived from one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSet {
    /// Commands from the HTTP tier, keyed by order id.
    pub commands: String,
    /// The event log of record, keyed by order id; same partition count as `commands`.
    pub events: String,
    /// One result per processed command, read by the HTTP tier to answer callers; written
    /// to the same partition as the command.
    pub results: String,
    /// Records a consumer could not process, with the error in a header.
    pub dead_letter: String,
    /// Latest state per order (compacted), so taking over a partition skips old history.
    pub snapshots: String,
}

impl TopicSet {
    pub fn new(prefix: &str) -> Self {
        let name = |suffix: &str| format!("{prefix}{suffix}");
        Self {
            commands: name("order-commands"),
            events: name("order-events"),
            results: name("order-command-results"),
            dead_letter: name("order-dead-letter"),
            snapshots: name("order-snapshots"),
        }
    }

    /// Creates any missing topic and refuses a set whose commands and events topics
    /// disagree on partition count (a command on partition p must write to events p).
    /// Returns the partition count shared by commands, events, results and snapshots.
    pub async fn ensure(&self, kafka: &KafkaConfig, spec: TopicSpec) -> Result<i32, TopicError> {
        let admin: AdminClient<DefaultClientContext> = kafka.client().create()?;
        let existing = self.partition_counts_patiently(&admin).await?;
        // Snapshots are a changelog: small segments so compaction keeps takeover reads short.
        let compacted = [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "16777216"),
            ("segment.ms", "600000"),
            ("min.cleanable.dirty.ratio", "0.1"),
        ];
        let wanted: [(&str, &[(&str, &str)]); 5] = [
            // A command's received time is when Kafka appended it (the deadlines' stream
            // time in command-api), on the broker's clock, not the producer's.
            (
                &self.commands,
                &[("message.timestamp.type", "LogAppendTime")],
            ),
            (&self.events, &[("retention.ms", "-1")]),
            (&self.results, &[("retention.ms", "86400000")]),
            (&self.dead_letter, &[("retention.ms", "-1")]),
            (&self.snapshots, &compacted),
        ];
        let missing: Vec<NewTopic<'_>> = wanted
            .iter()
            .filter(|(name, _)| !existing.contains_key(*name))
            .map(|(name, settings)| {
                settings.iter().fold(
                    NewTopic::new(
                        name,
                        spec.partitions,
                        TopicReplication::Fixed(spec.replication),
                    ),
                    |topic, (key, value)| topic.set(key, value),
                )
            })
            .collect();
        if !missing.is_empty() {
            let options = AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT));
            for result in admin.create_topics(&missing, &options).await? {
                match result {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((topic, code)) => return Err(TopicError::Create { topic, code }),
                }
            }
        }
        let counts = self
            .wait_for_partitions(&admin, &wanted.map(|(name, _)| name.to_owned()))
            .await?;
        let commands = counts[&self.commands];
        for topic in [&self.events, &self.results, &self.snapshots] {
            if counts[topic] != commands {
                return Err(TopicError::PartitionMismatch {
                    commands: self.commands.clone(),
                    commands_partitions: commands,
                    other: topic.clone(),
                    other_partitions: counts[topic],
                });
            }
        }
        Ok(commands)
    }

    fn partition_counts(
        &self,
        admin: &AdminClient<DefaultClientContext>,
    ) -> Result<HashMap<String, i32>, TopicError> {
        let metadata = admin.inner().fetch_metadata(None, METADATA_TIMEOUT)?;
        Ok(metadata
            .topics()
            .iter()
            // A topic counts once every partition has a leader: until then it cannot be used.
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .filter(|t| {
                t.partitions()
                    .iter()
                    .all(|p| p.error().is_none() && p.leader() >= 0)
            })
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    }

    /// A broker that has just started answers metadata requests with errors for a moment
    /// (its internal topics are still being created): retry those until the deadline.
    async fn partition_counts_patiently(
        &self,
        admin: &AdminClient<DefaultClientContext>,
    ) -> Result<HashMap<String, i32>, TopicError> {
        let deadline = tokio::time::Instant::now() + METADATA_TIMEOUT;
        loop {
            match self.partition_counts(admin) {
                Err(error) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%error, "metadata not available yet; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                result => return result,
            }
        }
    }

    /// Topic creation is asynchronous in the cluster: wait until metadata shows every topic.
    async fn wait_for_partitions(
        &self,
        admin: &AdminClient<DefaultClientContext>,
        names: &[String],
    ) -> Result<HashMap<String, i32>, TopicError> {
        let deadline = tokio::time::Instant::now() + METADATA_TIMEOUT;
        loop {
            let counts = self.partition_counts_patiently(admin).await?;
            if names.iter().all(|n| counts.contains_key(n)) {
                return Ok(counts);
            }
            if tokio::time::Instant::now() > deadline {
                let missing = names
                    .iter()
                    .find(|n| !counts.contains_key(*n))
                    .cloned()
                    .unwrap_or_default();
                return Err(TopicError::NotVisible(missing));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("creating topic {topic} failed: {code}")]
    Create {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topic {0} was created but is not visible in the cluster metadata")]
    NotVisible(String),
    #[error(
        "topic {other} has {other_partitions} partitions but {commands} has {commands_partitions}; \
         they must match (a command on partition p writes its events to partition p). \
         Recreate one of them or point the platform at a matching pair."
    )]
    PartitionMismatch {
        commands: String,
        commands_partitions: i32,
        other: String,
        other_partitions: i32,
    },
}
