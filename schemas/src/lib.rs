//! The orderlog contract: the order domain, its commands and events, the envelope they
//! travel in, and their JSON Schemas. Pure code: no Kafka, SQL or HTTP dependency.
//!
//! Layout:
//! - [`values`]: value types that cannot hold invalid values (ids, SKU, quantity, money...).
//! - [`command`]: what callers ask for.
//! - [`event`]: what happened, one type per fact, with stable names and schema versions.
//! - [`order`]: the aggregate: `decide` and `evolve`, and the rejections.
//! - [`envelope`]: the metadata every event and command travels with.
//! - [`cloudevents`]: the CloudEvents Kafka binding (binary mode) as plain headers and bytes.
//! - [`packed`]: primitives of the packed binary layouts snapshots use.
//! - [`json_schema`]: the JSON Schemas generated from these types (checked in under `schemas/json`).
//! - `upcast`: old event schema versions to the current one.

pub mod cloudevents;
pub mod command;
pub mod envelope;
pub mod event;
pub mod json_schema;
pub mod order;
pub mod packed;
mod upcast;
pub mod values;

pub use command::Command;
pub use envelope::{CommandEnvelope, CommandOutcome, CommandResult, EventEnvelope};
pub use event::Event;
pub use order::{OrderState, Rejection, decide, evolve};
