//! When a partition's deadlines fire: in stream time (`stream_time.rs`). A deadline joins a
//! batch once every command the platform received before its due time has reached the
//! partition's thread and is in that batch or an earlier one, ahead of it (the commands
//! still waiting were all received after it, so a busy partition fires too): a command
//! received before the due time (a payment) is decided before the deadline, even when it
//! reached the thread late, through a backlog, a slow fetch or a takeover. A command
//! received after the due time finds the deadline fired first (`slot.rs`, per order). At
//! most [`PER_TRANSACTION`] deadlines go into one transaction, so a takeover that finds
//! many due fires them in bounded batches.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::processor::lanes::inbox::Inbox;
use crate::processor::lanes::stream_time;
use crate::processor::transaction::input::Item;
use crate::processor::transaction::partition::PartitionWorker;

/// The most deadlines fired in one transaction.
pub(crate) const PER_TRANSACTION: usize = 100;

/// When the thread should wake for the next deadline, if it has any.
pub(crate) fn wake(worker: &PartitionWorker) -> Option<Instant> {
    worker.orders.deadlines().next().map(stream_time::wake)
}

/// The orders whose deadline is due in stream time, at most `room` (and
/// [`PER_TRANSACTION`]): before every command not yet taken was received (the commands
/// topic's, `stream_time.rs`, and the inbox's: its earliest command's received time).
pub(super) fn items(worker: &mut PartitionWorker, inbox: &Inbox, room: usize) -> Vec<Item> {
    let Some(due) = worker.orders.deadlines().next() else {
        return Vec::new();
    };
    let mut stream_time: DateTime<Utc> = worker.commands_clock.stream_time(inbox, due);
    if let Some(oldest) = inbox.oldest_received() {
        stream_time = stream_time.min(oldest - chrono::Duration::microseconds(1));
    }
    worker
        .orders
        .deadlines()
        .due(stream_time, room.min(PER_TRANSACTION))
        .into_iter()
        .map(|(order_id, _)| Item::Deadline(order_id))
        .collect()
}
