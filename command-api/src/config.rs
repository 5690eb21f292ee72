//! The one configuration of the command-api binary, from flags or environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// orderlog command-api: HTTP command intake and command processors.
///
/// Every flag can also be set through the environment variable shown with it.
#[derive(Debug, Clone, Parser)]
#[command(name = "command-api", version)]
pub struct Config {
    /// Which roles this process runs: both, only the HTTP intake, or only the processors.
    #[arg(long, env = "ORDERLOG_ROLE", value_enum, default_value = "all")]
    pub role: Role,

    /// Address the HTTP intake listens on.
    #[arg(
        long,
        env = "ORDERLOG_COMMAND_API_LISTEN",
        default_value = "127.0.0.1:8080"
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

    /// Prefix of every topic name.
    #[arg(long, env = "ORDERLOG_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,

    /// Partitions of the commands, events, results and snapshots topics when they are created.
    #[arg(long, env = "ORDERLOG_TOPIC_PARTITIONS", default_value_t = 6)]
    pub topic_partitions: i32,

    /// Replication factor of the topics when they are created.
    #[arg(long, env = "ORDERLOG_TOPIC_REPLICATION", default_value_t = 1)]
    pub topic_replication: i32,

    /// The query API's base URL, where the `Location` of a placed order points.
    #[arg(
        long,
        env = "ORDERLOG_QUERY_API_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub query_api_url: String,

    /// How long a request waits for its command's committed result before answering 503.
    #[arg(long, env = "ORDERLOG_RESULT_TIMEOUT_MS", default_value_t = 10_000)]
    pub result_timeout_ms: u64,

    /// How long producing a command may take before the request answers 503
    /// `kafka_unavailable` (and commands are refused at once until Kafka answers again).
    #[arg(long, env = "ORDERLOG_PRODUCE_TIMEOUT_MS", default_value_t = 2_000)]
    pub produce_timeout_ms: u64,

    /// Most commands waiting for their results at once; past it a command is refused with
    /// 503 `overloaded` rather than held.
    #[arg(
        long,
        env = "ORDERLOG_MAX_COMMANDS_IN_FLIGHT",
        default_value_t = 10_000
    )]
    pub max_commands_in_flight: usize,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "ORDERLOG_MAX_BODY_BYTES", default_value_t = 256 * 1024)]
    pub max_body_bytes: usize,

    /// With both roles in this process, whether a processor also hands the result of a
    /// command that came through the commands topic straight to the request waiting here,
    /// once its transaction is read back (as a direct command's), beside the results
    /// topic. (Answering right after `commit_transaction` returned, as this did before the
    /// read-back, lost answered commands in `tests/broker_restart.rs`; docs/performance.md.)
    #[arg(
        long,
        env = "ORDERLOG_RESULTS_IN_PROCESS",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub results_in_process: bool,

    /// With both roles in this process, whether a command whose partition a processor here
    /// serves is handed to it directly (answered once its transaction commits) instead of
    /// going through the commands topic. On by default; off sends every command through
    /// the topic, as before (to compare the two).
    #[arg(
        long,
        env = "ORDERLOG_DIRECT_COMMANDS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub direct_commands: bool,

    /// Consumer group of the command processors.
    #[arg(
        long,
        env = "ORDERLOG_PROCESSOR_GROUP",
        default_value = "orderlog-command-processors"
    )]
    pub processor_group: String,

    /// Most commands decided in one Kafka transaction.
    #[arg(long, env = "ORDERLOG_PROCESSOR_BATCH_MAX", default_value_t = 500)]
    pub processor_batch_max: usize,

    /// Least time between the starts of two transactions of one partition, in ms, unless
    /// a full batch waits: fewer, larger transactions under load; none when idle.
    #[arg(
        long,
        env = "ORDERLOG_PROCESSOR_TRANSACTION_INTERVAL_MS",
        default_value_t = 20
    )]
    pub processor_transaction_interval_ms: u64,

    /// How long the group waits for a silent processor before moving its partitions, in ms.
    #[arg(
        long,
        env = "ORDERLOG_PROCESSOR_SESSION_TIMEOUT_MS",
        default_value_t = 6_000
    )]
    pub processor_session_timeout_ms: u64,

    /// How long a placed order may stay unpaid before it expires (`90s`, `30m`, `48h`, `2d`);
    /// a PlaceOrder may ask for a shorter window, down to a minute.
    #[arg(long, env = "ORDERLOG_PAYMENT_WINDOW", default_value = "30m", value_parser = parse_window)]
    pub payment_window: chrono::Duration,

    /// The shipping promise: how long after its payment an order may stay unshipped before
    /// it is flagged overdue (`48h`, `2d`...).
    #[arg(long, env = "ORDERLOG_SHIP_WITHIN", default_value = "48h", value_parser = parse_window)]
    pub ship_within: chrono::Duration,

    /// Who may call: bearer tokens, their keys, and the rate limit per token subject.
    #[command(flatten)]
    pub auth: guard::AuthSettings,

    /// Timeouts, the cap on requests in flight and the shutdown grace of the HTTP server.
    #[command(flatten)]
    pub http: telemetry::server::HttpLimits,

    /// Where spans are exported (OTLP/HTTP); off unless set.
    #[command(flatten)]
    pub traces: telemetry::trace::TraceSettings,

    /// Log format: json for machines, pretty for people.
    #[arg(long, env = "ORDERLOG_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: telemetry::LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    All,
    Http,
    Processor,
}

impl Config {
    pub fn runs_http(&self) -> bool {
        matches!(self.role, Role::All | Role::Http)
    }

    pub fn runs_processor(&self) -> bool {
        matches!(self.role, Role::All | Role::Processor)
    }

    pub fn result_timeout(&self) -> Duration {
        Duration::from_millis(self.result_timeout_ms)
    }

    /// The windows the domain grants orders.
    pub fn policy(&self) -> schemas::order::Policy {
        schemas::order::Policy {
            payment_window: self.payment_window,
            ship_within: self.ship_within,
        }
    }

    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> Self {
        Self::parse_from(["command-api"])
    }
}

/// A window as `<n>s`, `<n>m`, `<n>h` or `<n>d`: at least a minute, at most 90 days.
fn parse_window(text: &str) -> Result<chrono::Duration, String> {
    let window = schemas::order::deadline::parse_duration(text)?;
    if window < chrono::Duration::minutes(1) || window > chrono::Duration::days(90) {
        return Err(format!("{text:?}: a window is a minute to 90 days"));
    }
    Ok(window)
}

#[cfg(test)]
mod window_tests {
    #[test]
    fn windows_are_read_in_their_units_and_bounded() {
        assert_eq!(
            super::parse_window("90s"),
            Ok(chrono::Duration::seconds(90))
        );
        assert_eq!(
            super::parse_window("30m"),
            Ok(chrono::Duration::minutes(30))
        );
        assert_eq!(super::parse_window("48h"), Ok(chrono::Duration::hours(48)));
        assert_eq!(super::parse_window("2d"), Ok(chrono::Duration::days(2)));
        for bad in [
            "",
            "30",
            "m",
            "-5m",
            "59s",
            "91d",
            "1w",
            "9999999999999999999d",
        ] {
            assert!(super::parse_window(bad).is_err(), "{bad:?}");
        }
    }
}
