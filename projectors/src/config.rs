//! The one configuration of the projectors binary, from flags or environment variables.

use std::net::SocketAddr;

use clap::Parser;

use crate::projections::Projection;
use crate::worker::PoisonPolicy;

/// orderlog projectors: build the PostgreSQL read models from the event log.
///
/// Every flag can also be set through the environment variable shown with it.
#[derive(Debug, Clone, Parser)]
#[command(name = "projectors", version)]
pub struct Config {
    /// Address of the health and metrics endpoints.
    #[arg(
        long,
        env = "ORDERLOG_PROJECTORS_LISTEN",
        default_value = "127.0.0.1:8082"
    )]
    pub listen: SocketAddr,

    /// Kafka bootstrap servers, host:port[,host:port...].
    #[arg(
        long,
        env = "ORDERLOG_KAFKA_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    pub kafka_bootstrap: String,

    /// How the Kafka clients authenticate (SASL/SCRAM) and protect the wire (TLS).
    #[command(flatten)]
    pub kafka_security: event_store::KafkaSecurity,

    /// Prefix of every topic name (and of the projections' consumer groups).
    #[arg(long, env = "ORDERLOG_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,

    /// PostgreSQL the read models are written to.
    #[arg(
        long,
        env = "ORDERLOG_DATABASE_URL",
        default_value = "postgres://orderlog:orderlog@127.0.0.1:5432/orderlog",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_url: telemetry::Secret,

    /// Which projections this process runs (comma-separated); all by default.
    #[arg(long, env = "ORDERLOG_PROJECTIONS", value_delimiter = ',', default_values = ["orders", "timeline", "sales"])]
    pub projections: Vec<Projection>,

    /// Most events applied in one database transaction.
    #[arg(long, env = "ORDERLOG_PROJECTOR_BATCH_MAX", default_value_t = 5000)]
    pub batch_max: usize,

    /// How long a batch waits for more events once it has one, in ms.
    #[arg(long, env = "ORDERLOG_PROJECTOR_LINGER_MS", default_value_t = 20)]
    pub linger_ms: u64,

    /// What to do with an event a projection cannot take.
    #[arg(
        long,
        env = "ORDERLOG_ON_POISON",
        value_enum,
        default_value = "dead-letter"
    )]
    pub on_poison: PoisonPolicy,

    /// Timeouts, the cap on requests in flight and the shutdown grace of the HTTP server.
    #[command(flatten)]
    pub http: telemetry::server::HttpLimits,

    /// Where spans are exported (OTLP/HTTP); off unless set.
    #[command(flatten)]
    pub traces: telemetry::trace::TraceSettings,

    /// Log format: json for machines, pretty for people.
    #[arg(long, env = "ORDERLOG_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: telemetry::LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Rebuild one projection from offset zero into new tables while the current ones keep
    /// serving, then switch in one transaction and drop the old tables.
    ///
    /// Example: projectors rebuild orders
    Rebuild {
        /// The projection to rebuild.
        #[arg(value_enum)]
        projection: Projection,
    },
}

impl Config {
    /// Every default, for tests and embedding.
    pub fn defaults() -> Self {
        Self::parse_from(["projectors"])
    }
}
