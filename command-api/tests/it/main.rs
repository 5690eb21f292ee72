//! Black-box tests of command-api against the real Kafka broker started by `make infra`.

mod broker_restart;
mod concurrency;
mod contract;
mod failover;
mod idempotency;
mod lifecycle;
mod poison;
mod position;
mod screening;
mod snapshots;
mod support;
mod takeover;
mod zombie;
