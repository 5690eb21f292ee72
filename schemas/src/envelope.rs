//! The metadata events and commands travel with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::Command;
use crate::event::Event;
use crate::order::Rejection;
use crate::values::{CustomerId, OrderId};

/// An event with everything a reader needs to place it: which order, which version of
/// that order it made, when, and which command caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEnvelope {
    /// Unique id of this event (UUIDv7, time-ordered).
    pub event_id: Uuid,
    pub order_id: OrderId,
    /// The order's version after this event: 1 for the first event of an order, then 2, 3...
    pub order_version: u64,
    pub occurred_at: DateTime<Utc>,
    /// Shared by everything one business transaction caused.
    pub correlation_id: Uuid,
    /// The command that caused this event.
    pub causation_id: Uuid,
    /// W3C trace context of the command that caused this event, when there was one.
    pub traceparent: Option<String>,
    pub event: Event,
}

/// A command on its way to a command processor (the value of a commands-topic record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// Derived from the caller's `Idempotency-Key` when one is given.
    pub command_id: Uuid,
    pub order_id: OrderId,
    /// From `If-Match`: the version the caller believes the order is at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<u64>,
    pub correlation_id: Uuid,
    pub issued_at: DateTime<Utc>,
    /// Identifies the request body, so that a reused idempotency key with another body is
    /// told apart from a retry.
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Set when the caller's token is scoped to one customer: the command applies only to
    /// that customer's orders (any other order answers as if it did not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acting_for: Option<CustomerId>,
    pub command: Command,
}

impl CommandEnvelope {
    /// A stable fingerprint of a command and its expected version (FNV-1a over its JSON).
    pub fn fingerprint_of(
        order_id: OrderId,
        command: &Command,
        expected_version: Option<u64>,
    ) -> String {
        let bytes = serde_json::to_vec(&(order_id, command, expected_version)).unwrap_or_default();
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

/// What became of a command (the value of a command-results record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub command_id: Uuid,
    pub order_id: OrderId,
    pub fingerprint: String,
    pub processed_at: DateTime<Utc>,
    pub outcome: CommandOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CommandOutcome {
    /// The command's events are committed; `version` is the order's version after them
    /// (unchanged when the command asked for what was already true).
    Accepted {
        version: u64,
        events: Vec<EventSummary>,
    },
    /// The domain refused the command; nothing was written.
    Rejected { rejection: Rejection },
    /// The idempotency key was used before with a different request; nothing was written.
    IdempotencyKeyReused,
}

/// One written event, as reported back to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventSummary {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub type_name: String,
    pub version: u64,
}
