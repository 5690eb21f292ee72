//! What orderlog's integration tests share. Tests run against the real Kafka and
//! PostgreSQL that `make test` starts; each test isolates itself with its own topic prefix
//! and its own database, so they run in parallel on one stack. Tests that inject faults
//! start servers of their own.
//!
//! Layout:
//! - this file: where the shared Kafka and PostgreSQL are, a topic prefix and a database
//!   per test.
//! - [`auth`]: the tests' tokens and the services' auth settings.
//! - [`balancer`]: HAProxy in front of several HTTP tiers and query-apis.
//! - [`broker`]: a private Kafka broker that a test can kill and start again.
//! - [`jaeger`]: a private Jaeger that keeps traces in memory.
//! - [`kafka_proxy`]: a proxy in front of a private broker that can stall a transaction's
//!   initialisation at its coordinator.
//! - [`slow`]: slow and idle HTTP clients.
//! - [`open_transaction`]: a transaction held open on some partitions, holding up their
//!   read_committed readers.
//! - `http` (feature `http`): a client with every scope, the readiness wait; `running`: a
//!   service running in the test's process until stopped.
//! - [`plain_log`]: the log as a plain consumer reads it, and the write path's invariants.
//! - [`bodies`]: request bodies of the command API.
//! - `command_app` (feature `command-app`): command-api in the test's process.
//! - [`logs`]: the services' and librdkafka's logs in a file, printed for a failing test.
//! - [`metrics`]: sums of a service's Prometheus series.
//! - [`postgres`]: a private PostgreSQL server that a test can stop and start again.
//! - `harness` (feature `harness`): what the benchmarks and the suites share.
//! - `platform` (feature `services`): command-api, projectors and query-api started in the
//!   test's process; `query_platform`: that platform with query-api, for its tests.

pub mod auth;
#[cfg(any(feature = "http", feature = "harness"))]
pub mod balancer;
pub mod bodies;
pub mod broker;
#[cfg(feature = "command-app")]
pub mod command_app;
#[cfg(feature = "harness")]
pub mod harness;
#[cfg(feature = "http")]
pub mod http;
pub mod jaeger;
pub mod kafka_proxy;
pub mod logs;
pub mod metrics;
pub mod open_transaction;
pub mod plain_log;
#[cfg(feature = "services")]
pub mod platform;
pub mod postgres;
#[cfg(feature = "services")]
pub mod query_platform;
#[cfg(feature = "http")]
pub mod running;
pub mod slow;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The PostgreSQL server: `ORDERLOG_DATABASE_URL`, or the local stack's.
pub fn server_url() -> String {
    std::env::var("ORDERLOG_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://orderlog:orderlog@127.0.0.1:5432/orderlog".to_owned())
}

/// The Kafka bootstrap servers: `ORDERLOG_KAFKA_BOOTSTRAP`, or the local stack's.
pub fn bootstrap() -> String {
    std::env::var("ORDERLOG_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// A topic prefix no other test uses.
pub fn topic_prefix() -> String {
    format!("test-{}.", uuid::Uuid::new_v4().simple())
}

/// Creates a database private to one test on [`server_url`] and returns its URL.
///
/// # Panics
/// When PostgreSQL cannot be reached: the test cannot run without it.
pub async fn fresh_database() -> String {
    let server = server_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server)
        .await
        .expect("connect to postgres");
    // The name is generated here, never taken from input.
    admin
        .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .expect("create database");
    let (base, _) = server.rsplit_once('/').expect("database url has a path");
    format!("{base}/{name}")
}

/// A TCP port nothing listens on right now, for a server a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A secret no test output holds unless a binary leaks it.
pub const KNOWN_SECRET: &str = "s3cret-Pa55word-never-printed";

/// Runs `binary` with `args` and every variable of `secret_vars` set to a URL holding
/// [`KNOWN_SECRET`] (pointing at a port nothing listens on), for at most `patience` (a
/// service that waits the outage out is stopped then), and panics when its output holds
/// the secret. Returns the output, for the caller's own checks.
///
/// # Panics
/// When the binary cannot run, or prints the secret.
pub fn assert_secret_hidden(
    binary: &str,
    args: &[&str],
    secret_vars: &[&str],
    patience: std::time::Duration,
) -> String {
    let url = format!("postgres://orderlog:{KNOWN_SECRET}@127.0.0.1:1/orderlog");
    let mut command = std::process::Command::new(binary);
    command.args(args);
    for var in secret_vars {
        command.env(var, &url);
    }
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let deadline = std::time::Instant::now() + patience;
    while child.try_wait().expect("wait").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains(KNOWN_SECRET),
        "{binary} {args:?} printed the secret:\n{text}"
    );
    text
}
