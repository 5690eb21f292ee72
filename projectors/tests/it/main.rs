//! Integration tests against the real PostgreSQL and Kafka started by `make infra`.

mod crash;
mod large_sums;
mod migrations;
mod outage;
mod poison;
mod read_models;
mod rebuild;
mod replay;
mod secrets;
mod shutdown;
mod support;
