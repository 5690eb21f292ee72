//! Where the local stack's Kafka and PostgreSQL are, as every benchmark takes them.

#[derive(Debug, Clone, clap::Args)]
pub struct Kafka {
    /// Kafka bootstrap servers.
    #[arg(
        id = "kafka_bootstrap",
        long = "kafka-bootstrap",
        env = "ORDERLOG_KAFKA_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap: String,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Postgres {
    /// An existing database on the PostgreSQL server (benchmarks create theirs beside it).
    #[arg(
        id = "database_url",
        long = "database-url",
        env = "ORDERLOG_DATABASE_URL",
        default_value = "postgres://orderlog:orderlog@127.0.0.1:5432/orderlog",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub url: String,
}

/// A fresh set of the platform's topics under a `bench-<label>-<uuid>.` prefix (which
/// `bench clean` removes), with `partitions` partitions each.
pub async fn bench_topics(
    bootstrap: &str,
    label: &str,
    partitions: i32,
) -> anyhow::Result<(String, event_store::KafkaConfig, event_store::TopicSet)> {
    let prefix = format!("bench-{label}{}.", uuid::Uuid::new_v4().simple());
    let kafka = event_store::KafkaConfig::new(bootstrap, &prefix);
    let topics = event_store::TopicSet::new(&prefix);
    topics
        .ensure(
            &kafka,
            event_store::TopicSpec {
                partitions,
                replication: 1,
            },
        )
        .await?;
    Ok((prefix, kafka, topics))
}
