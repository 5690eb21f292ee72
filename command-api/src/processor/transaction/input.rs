//! What reaches a partition's thread: commands the consumer thread fetched from the
//! commands topic, and commands this process's HTTP tier handed over directly (`direct`);
//! and what its batches hold besides: the orders whose deadline came due.

use std::time::Instant;

use rdkafka::message::{Message, OwnedMessage};
use schemas::{CommandEnvelope, CommandResult};
use tokio::sync::oneshot;

/// A command handed over in-process, with where its committed result goes.
pub(crate) struct Direct {
    pub(crate) command: CommandEnvelope,
    pub(crate) reply: oneshot::Sender<CommandResult>,
    /// When it was handed over, for `orderlog_command_stage_seconds{stage="handed_to_transaction"}`.
    pub(crate) handed: Instant,
}

/// What reaches a partition's thread.
pub(crate) enum Input {
    /// Commands the consumer thread fetched from the commands topic.
    Fetched(Vec<OwnedMessage>),
    /// A command the HTTP tier of this process handed over.
    Direct(Box<Direct>),
}

/// One command of a batch, as it arrived, or an order whose deadline came due.
pub(crate) enum Item {
    Fetched(OwnedMessage),
    Direct(Box<Direct>),
    Deadline(schemas::values::OrderId),
}

impl Item {
    /// Its commands-topic offset, when it came through the topic.
    pub(crate) fn offset(&self) -> Option<i64> {
        match self {
            Item::Fetched(message) => Some(message.offset()),
            Item::Direct(_) | Item::Deadline(_) => None,
        }
    }
}
