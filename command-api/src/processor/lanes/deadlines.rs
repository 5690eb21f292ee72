//! When a partition's deadlines fire: in stream time. A deadline joins a batch once its due
//! time is at least [`STREAM_GRACE`] past and every command handed to the partition's
//! thread that was received before it is in that batch, ahead of it (the commands still
//! waiting were all received after it, so a busy partition fires too): a command received
//! before the due time (a payment) is decided before the deadline, even when it reached the
//! thread a little late or the partition had a backlog. A command received after the due time finds the deadline
//! fired first (`slot.rs`, per order). After a takeover, deadlines wait until the thread has
//! taken the commands topic's backlog (every command produced before the takeover ended),
//! so a payment waiting there wins too. At most [`PER_TRANSACTION`] deadlines go into one
//! transaction, so a takeover that finds many due fires them in bounded batches.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::processor::lanes::inbox::Inbox;
use crate::processor::transaction::input::Item;
use crate::processor::transaction::partition::PartitionWorker;

/// How long after its due time a deadline waits for commands received before it that are
/// still on their way to the partition's thread (through the commands topic, a fetch takes
/// up to 100 ms).
pub(crate) const STREAM_GRACE: Duration = Duration::from_millis(500);

/// The most deadlines fired in one transaction.
pub(crate) const PER_TRANSACTION: usize = 100;

/// How long the consumer thread may have handed no fetched command over, once it handed some
/// of the backlog (direct commands do not count), before the backlog counts as taken though the position stopped short of the end
/// the takeover saw: the end of a partition a transactional producer wrote is a commit
/// marker (or aborted records), never a command.
const BACKLOG_QUIET: Duration = Duration::from_secs(2);

/// The same when nothing of the backlog came at all (all of it aborted, or a consumer that
/// cannot fetch): deadlines are late then rather than never.
const BACKLOG_SILENT: Duration = Duration::from_secs(30);

/// Whether the thread has taken the commands the takeover found waiting: its position
/// reached their end, or the consumer fell quiet after handing some of them over
/// ([`BACKLOG_QUIET`]; [`BACKLOG_SILENT`] when it handed none).
pub(super) fn caught_up(worker: &mut PartitionWorker, inbox: &Inbox) -> bool {
    let Some(end) = worker.backlog_end else {
        return true;
    };
    if !backlog_taken(Some(end), inbox) {
        return false;
    }
    if inbox.floor < end {
        tracing::info!(
            partition = worker.partition,
            position = inbox.floor,
            end,
            "the commands backlog counts as taken: the consumer fell quiet short of its end"
        );
    }
    worker.backlog_end = None;
    true
}

/// Whether the commands up to `end` (the backlog a takeover found, if any) are taken.
fn backlog_taken(end: Option<i64>, inbox: &Inbox) -> bool {
    let Some(end) = end else {
        return true;
    };
    let quiet = match inbox.took_fetched {
        true => BACKLOG_QUIET,
        false => BACKLOG_SILENT,
    };
    inbox.floor >= end || inbox.last_fetched.elapsed() >= quiet
}

/// When the thread should wake for the next deadline, if it has any.
pub(crate) fn wake(worker: &PartitionWorker) -> Option<Instant> {
    let next = worker.orders.deadlines().next()?;
    let until = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Some(Instant::now() + until + STREAM_GRACE)
}

/// The orders whose deadline is due in stream time, at most `room` (and
/// [`PER_TRANSACTION`]): due [`STREAM_GRACE`] ago, and before `oldest_waiting` (when the
/// earliest command not in the batch was received).
pub(crate) fn items(
    worker: &PartitionWorker,
    room: usize,
    oldest_waiting: Option<DateTime<Utc>>,
) -> Vec<Item> {
    let grace = chrono::Duration::from_std(STREAM_GRACE).unwrap_or_default();
    let mut stream_time = Utc::now() - grace;
    if let Some(oldest) = oldest_waiting {
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::processor::lanes::inbox::tests::{direct, fetched, inbox};

    #[test]
    fn the_backlog_is_taken_at_its_end_or_after_the_consumer_fell_quiet_whatever_direct_commands_do()
     {
        let (sender, mut inbox) = inbox(10);
        assert!(
            backlog_taken(None, &inbox),
            "no backlog: nothing to wait for"
        );
        assert!(!backlog_taken(Some(20), &inbox));
        sender.send(fetched(10..15)).expect("send");
        assert!(inbox.fill(None));
        let _ = inbox.take(100);
        assert!(!backlog_taken(Some(20), &inbox), "half of it taken");
        // The consumer hands nothing more for longer than BACKLOG_QUIET (the end was a
        // transaction marker), while direct commands keep coming to the partition.
        let back = Instant::now().checked_sub(BACKLOG_QUIET + Duration::from_millis(100));
        inbox.last_fetched = back.expect("an instant in the past");
        let (command, _reply) = direct();
        sender.send(command).expect("send");
        assert!(inbox.fill(None));
        let _ = inbox.take(100);
        assert!(
            backlog_taken(Some(20), &inbox),
            "direct commands say nothing of the commands topic's backlog"
        );
        // Taken to its end: at once.
        let (sender, mut inbox) = super::super::inbox::tests::inbox(10);
        sender.send(fetched(10..20)).expect("send");
        assert!(inbox.fill(None));
        let _ = inbox.take(100);
        assert!(backlog_taken(Some(20), &inbox));
    }
}
