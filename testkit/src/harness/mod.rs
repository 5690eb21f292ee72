//! What the benchmarks (`bench/`) and the suites (`suites/`) share (feature `harness`):
//! - [`stack`]: where the local stack's Kafka and PostgreSQL are, as command-line arguments,
//!   and fresh topics for a benchmark;
//! - [`auth`]: the bearer token for a running platform, or a secret of their own for the
//!   platforms they start;
//! - [`clean`]: removing the topics and databases benchmarks and tests leave behind.

pub mod auth;
pub mod clean;
pub mod docs;
pub mod stack;
