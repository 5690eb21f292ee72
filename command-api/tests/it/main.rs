//! Black-box tests of command-api against the real Kafka broker started by `make infra`.

mod answers;
mod auth;
mod concurrency;
mod contract;
mod deadlines;
mod direct;
mod failover;
mod hostile;
mod http_bounds;
mod idempotency;
mod lifecycle;
mod openapi_gen;
mod openapi_properties;
mod poison;
mod position;
mod screening;
mod secrets;
mod secured;
mod snapshots;
mod stalled_takeover;
mod support;
mod takeover;
mod zombie;
