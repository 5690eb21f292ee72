//! Apache Kafka as the event store of record for orderlog.
//!
//! Commands, events, command results and order snapshots live in Kafka topics that share
//! one partition count, so the command on partition `p` writes its events to partition `p`
//! and a single transactional writer per partition keeps each order consistent.
//!
//! Layout:
//! - [`backoff`]: capped exponential backoff with jitter, for waiting out outages.
//! - [`group`]: leaving a consumer group so that closing the consumer cannot hang.
//! - [`config`]: connection settings and the rdkafka client configurations built from them.
//! - [`security`]: SASL/SCRAM and TLS settings every client carries.
//! - [`partitioner`]: which partition an order lives in (Kafka's default partitioner).
//! - [`topics`]: the topic set, its names, and creating/checking it at start-up.
//! - [`wire`]: CloudEvents records to and from rdkafka headers and messages.
//! - [`reader`]: reading a partition from an offset or a time up to its end, or one record;
//!   waiting until no transaction is open on a partition.
//! - [`statistics`]: librdkafka's statistics as Prometheus metrics.
//! - [`transactional`]: a transactional producer that waits for acknowledgements without
//!   polling.

pub mod backoff;
pub mod config;
pub mod group;
pub mod partitioner;
pub mod reader;
pub mod security;
pub mod statistics;
pub mod topics;
pub mod transactional;
pub mod wire;

pub use backoff::Backoff;
pub use config::KafkaConfig;
pub use reader::{
    ReadError, Start, assign_at_end, read_record, read_to_end, wait_settled, watermarks,
};
pub use security::KafkaSecurity;
pub use topics::{TopicError, TopicSet, TopicSpec};
pub use transactional::{Delivered, TransactionalProducer};
