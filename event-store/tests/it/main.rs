//! Integration tests against the real Kafka broker started by `make infra`.

mod support;
mod transactions;
