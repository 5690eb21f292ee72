//! A partition thread's inbox: the commands handed over and not yet in a transaction, in
//! arrival order, and the position below which a fetched command is never taken again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rdkafka::Message;

use crate::processor::transaction::input::{Input, Item};

/// What the consumer thread handed over and the lane has not processed yet.
pub(super) struct Inbox {
    pub(super) receiver: Receiver<Input>,
    /// Fetched commands handed over and not yet in a batch (the consumer thread pauses the
    /// partition above a high-water mark; direct commands are bounded by the HTTP tier).
    pub(super) queued: Arc<AtomicUsize>,
    pub(super) pending: VecDeque<Item>,
    /// The lowest offset still to process: the last committed position. Commands below it
    /// can reach the lane when the consumer started fetching before it was repositioned.
    pub(super) floor: i64,
    /// When the consumer thread last handed fetched commands over (or the lane started);
    /// direct commands do not count: they say nothing of the commands topic's backlog.
    pub(super) last_fetched: Instant,
}

impl Inbox {
    /// When the earliest command still waiting (not in a batch) was received: a fetched one
    /// by its record's time, a direct one by its `issued_at`; one without a time counts as
    /// received at the beginning of time (nothing is due before it). `None`: none waits.
    pub(super) fn oldest_received(&self) -> Option<DateTime<Utc>> {
        self.pending
            .iter()
            .map(|item| match item {
                Item::Fetched(message) => message
                    .timestamp()
                    .to_millis()
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC),
                Item::Direct(direct) => direct.command.issued_at,
                Item::Deadline(_) => DateTime::<Utc>::MAX_UTC,
            })
            .min()
    }

    /// Takes what has arrived without waiting; how many commands are pending then.
    pub(super) fn gather(&mut self) -> usize {
        while let Ok(input) = self.receiver.try_recv() {
            self.push(input);
        }
        self.pending.len()
    }

    fn push(&mut self, input: Input) {
        match input {
            Input::Fetched(messages) => {
                self.last_fetched = Instant::now();
                self.pending.extend(messages.into_iter().map(Item::Fetched))
            }
            Input::Direct(direct) => self.pending.push_back(Item::Direct(direct)),
        }
    }

    /// Waits for commands when none are pending, until `wake` when given (the next
    /// deadline); `false` once the channel is closed.
    pub(super) fn fill(&mut self, wake: Option<Instant>) -> bool {
        if self.pending.is_empty() {
            let received = match wake {
                None => self
                    .receiver
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
                Some(wake) => self
                    .receiver
                    .recv_timeout(wake.saturating_duration_since(Instant::now())),
            };
            match received {
                Ok(input) => self.push(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
        self.gather();
        true
    }

    /// The next batch, in arrival order, without any fetched command below the floor
    /// (commands the state already includes, or a second delivery of one after the consumer
    /// was repositioned). The floor then moves past the batch: either its transaction
    /// commits or the lane ends.
    pub(super) fn take(&mut self, max: usize) -> Vec<Item> {
        let mut batch = Vec::new();
        let (mut fetched, mut skipped) = (0, 0);
        while batch.len() < max {
            let Some(item) = self.pending.pop_front() else {
                break;
            };
            if let Some(offset) = item.offset() {
                fetched += 1;
                if offset < self.floor {
                    skipped += 1;
                    continue;
                }
                self.floor = offset + 1;
            }
            batch.push(item);
        }
        self.queued.fetch_sub(fetched, Ordering::SeqCst);
        if skipped > 0 {
            tracing::debug!(
                skipped,
                floor = self.floor,
                "commands below the partition's position skipped"
            );
        }
        batch
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::mpsc::{Sender, channel};

    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    use super::*;
    use crate::processor::transaction::input::Direct;

    fn message(offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            None,
            None,
            "commands".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    pub(crate) fn fetched(offsets: std::ops::Range<i64>) -> Input {
        Input::Fetched(offsets.map(message).collect())
    }

    pub(crate) fn direct() -> (
        Input,
        tokio::sync::oneshot::Receiver<schemas::CommandResult>,
    ) {
        let (reply, receiver) = tokio::sync::oneshot::channel();
        let command = crate::processor::fixtures::envelope(
            schemas::values::OrderId::generate(),
            crate::processor::fixtures::alice_cancels(),
            None,
        );
        let direct = Direct {
            command,
            reply,
            handed: std::time::Instant::now(),
        };
        (Input::Direct(Box::new(direct)), receiver)
    }

    pub(crate) fn inbox(floor: i64) -> (Sender<Input>, Inbox) {
        let (sender, receiver) = channel();
        let inbox = Inbox {
            receiver,
            queued: Arc::new(AtomicUsize::new(0)),
            pending: VecDeque::new(),
            floor,
            last_fetched: Instant::now(),
        };
        (sender, inbox)
    }

    /// The batch's offsets, `-1` for a direct command.
    fn offsets(batch: &[Item]) -> Vec<i64> {
        batch
            .iter()
            .map(|item| item.offset().unwrap_or(-1))
            .collect()
    }

    #[test]
    fn commands_below_the_position_and_second_deliveries_never_reach_a_batch() {
        let (sender, mut inbox) = inbox(150);
        // Fetched from the group's older offset before the consumer was repositioned...
        sender.send(fetched(100..200)).expect("send");
        // ...and again from the position once it was.
        sender.send(fetched(150..210)).expect("send");
        inbox.queued.store(160, Ordering::SeqCst);
        assert!(inbox.fill(None));
        let batch = inbox.take(1_000);
        assert_eq!(offsets(&batch), (150..210).collect::<Vec<_>>());
        assert_eq!(inbox.queued.load(Ordering::SeqCst), 0);
        assert_eq!(inbox.floor, 210);
    }

    #[test]
    fn a_batch_holds_at_most_max_commands_and_the_rest_waits() {
        let (sender, mut inbox) = inbox(i64::MIN);
        sender.send(fetched(0..5)).expect("send");
        inbox.queued.store(5, Ordering::SeqCst);
        assert!(inbox.fill(None));
        assert_eq!(offsets(&inbox.take(3)), vec![0, 1, 2]);
        assert_eq!(offsets(&inbox.take(3)), vec![3, 4]);
        drop(sender);
        assert!(!inbox.fill(None), "a closed channel ends the lane");
    }

    #[test]
    fn direct_commands_join_batches_in_arrival_order_and_never_move_the_floor() {
        let (sender, mut inbox) = inbox(10);
        sender.send(fetched(8..12)).expect("send");
        let (first, mut first_reply) = direct();
        sender.send(first).expect("send");
        sender.send(fetched(12..13)).expect("send");
        inbox.queued.store(5, Ordering::SeqCst);
        assert!(inbox.fill(None));
        let batch = inbox.take(1_000);
        assert_eq!(offsets(&batch), vec![10, 11, -1, 12]);
        assert_eq!(inbox.floor, 13);
        assert_eq!(
            inbox.queued.load(Ordering::SeqCst),
            0,
            "only fetched commands are counted"
        );

        // A direct command dropped undecided (its batch failed, or the lane stopped) closes
        // its reply at once: its request sends it again rather than waiting for a timeout.
        drop(batch);
        assert!(matches!(
            first_reply.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        ));
        let (only, _reply) = direct();
        sender.send(only).expect("send");
        assert!(inbox.fill(None));
        let batch = inbox.take(1_000);
        assert_eq!(offsets(&batch), vec![-1]);
        assert_eq!(
            inbox.floor, 13,
            "a batch of direct commands leaves the position alone"
        );
    }

    #[test]
    fn the_oldest_waiting_command_is_told_by_its_record_time_or_issued_at() {
        let (sender, mut inbox) = inbox(i64::MIN);
        assert_eq!(inbox.oldest_received(), None);
        let (direct, _reply) = direct();
        let Input::Direct(handed) = &direct else {
            unreachable!("a direct command")
        };
        let issued = handed.command.issued_at;
        sender.send(direct).expect("send");
        let at = |millis| {
            OwnedMessage::new(
                None,
                None,
                "commands".into(),
                Timestamp::CreateTime(millis),
                0,
                1,
                None,
            )
        };
        let earlier = issued.timestamp_millis() - 5_000;
        sender
            .send(Input::Fetched(vec![at(earlier), at(earlier + 10_000)]))
            .expect("send");
        assert!(inbox.fill(None));
        assert_eq!(
            inbox.oldest_received().map(|t| t.timestamp_millis()),
            Some(earlier)
        );
        let _ = inbox.take(2);
        assert_eq!(
            inbox.oldest_received().map(|t| t.timestamp_millis()),
            Some(earlier + 10_000)
        );
        sender.send(Input::Fetched(vec![message(9)])).expect("send");
        assert!(inbox.fill(None));
        assert_eq!(
            inbox.oldest_received(),
            Some(DateTime::<Utc>::MIN_UTC),
            "a record without a time holds every deadline back"
        );
    }
}
