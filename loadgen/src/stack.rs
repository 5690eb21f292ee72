//! Where the local stack's Kafka and PostgreSQL are, as every benchmark takes them.

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Kafka {
    /// Kafka bootstrap servers.
    #[arg(
        long = "kafka-bootstrap",
        env = "ORDERLOG_KAFKA_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    pub(crate) bootstrap: String,
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Postgres {
    /// An existing database on the PostgreSQL server (benchmarks create theirs beside it).
    #[arg(
        long = "database-url",
        env = "ORDERLOG_DATABASE_URL",
        default_value = "postgres://orderlog:orderlog@127.0.0.1:5432/orderlog"
    )]
    pub(crate) url: String,
}
