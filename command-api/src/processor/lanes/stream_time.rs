//! Stream time for a partition's deadlines: the moment before which every command the
//! platform received for the partition has reached its thread. A command is received when
//! the platform holds it: handed to its owner's thread in-process, or appended to the
//! commands topic (its `LogAppendTime`: a command the HTTP tier took a while to produce
//! counts from when Kafka took it, `screening/untrusted.rs`).
//!
//! The thread knows its inbox; of the commands topic it knows only what it fetched. So it
//! probes: it asks where the commands partition ends at a moment `at` (a read_committed
//! watermark). Every command appended before `at` lies below that end; once the thread has
//! taken the commands up to it, stream time reaches `at` less [`STREAM_GRACE`] (the
//! broker's and this machine's clocks may differ a little). A takeover's first probe is the
//! backlog it found. The end of a partition a transactional producer wrote is a commit
//! marker, which no fetch hands over: once the consumer thread has handed nothing for
//! [`QUIET`], the thread reads the partition from its position to the probed end itself
//! (read_committed); when nothing readable lies there, the commands up to it are taken. A
//! consumer that is merely stalled (a rebalance, a broker failing over) has readable
//! commands there, and the deadlines wait for them.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

use crate::processor::lanes::inbox::Inbox;

/// How far the broker's clock may lag this machine's (its append times are the commands'
/// received times) and how long a command handed over in-process may take to reach the
/// inbox.
pub(crate) const STREAM_GRACE: Duration = Duration::from_millis(250);

/// How long the consumer thread may have handed no fetched command over before the thread
/// looks below the probed end itself (direct commands do not count), and how often.
const QUIET: Duration = Duration::from_secs(2);

/// Everything appended to the commands partition before `at` lies below `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) at: DateTime<Utc>,
    pub(crate) end: i64,
}

/// What a partition's thread knows of its commands partition.
pub(crate) struct CommandsClock {
    consumer: BaseConsumer,
    topic: String,
    partition: i32,
    /// A probe whose commands are not all taken yet.
    waiting: Option<Probe>,
    /// Every command received before this has been taken.
    covered: DateTime<Utc>,
    /// When the thread last read below a probed end itself.
    looked: Option<Instant>,
}

impl CommandsClock {
    /// At a takeover (now), asking through `consumer`: the commands up to `backlog_end`,
    /// if the partition holds commands past where this owner resumes, are the first probe.
    pub(crate) fn at_takeover(
        consumer: BaseConsumer,
        topic: &str,
        partition: i32,
        backlog_end: Option<i64>,
    ) -> Self {
        let now = Utc::now();
        Self {
            consumer,
            topic: topic.to_owned(),
            partition,
            waiting: backlog_end.map(|end| Probe { at: now, end }),
            covered: match backlog_end {
                Some(_) => DateTime::<Utc>::MIN_UTC,
                None => now - grace(),
            },
            looked: None,
        }
    }

    /// Stream time for deadlines due by `due` (the earliest pending): every command
    /// received before the returned moment has been taken. Probes the commands partition
    /// when what is known does not reach `due` yet.
    pub(super) fn stream_time(&mut self, inbox: &Inbox, due: DateTime<Utc>) -> DateTime<Utc> {
        if let Some(probe) = self.waiting
            && self.taken(probe.end, inbox)
        {
            self.covered = self.covered.max(probe.at - grace());
            self.waiting = None;
        }
        let now = Utc::now();
        if self.waiting.is_none() && self.covered < due && due + grace() <= now {
            match event_store::watermarks(
                &self.consumer,
                &self.topic,
                self.partition,
                Duration::from_secs(1),
            ) {
                // Below the low watermark there is nothing to take (a fresh group's floor
                // is unknown until its first fetch).
                Ok((low, end)) if inbox.floor.max(low) >= end => self.covered = now - grace(),
                Ok((_, end)) => self.waiting = Some(Probe { at: now, end }),
                // The cluster does not answer: no later stream time until it does.
                Err(error) => {
                    tracing::debug!(partition = self.partition, %error, "commands partition's end not known; deadlines wait")
                }
            }
        }
        self.covered
    }

    /// Whether the commands below `end` are taken: the position reached it, or, once the
    /// consumer fell quiet, nothing readable lies between the position and `end`.
    fn taken(&mut self, end: i64, inbox: &Inbox) -> bool {
        if inbox.floor >= end {
            return true;
        }
        if !quiet(inbox) || self.looked.is_some_and(|at| at.elapsed() < QUIET) {
            return false;
        }
        self.looked = Some(Instant::now());
        let only_markers = self.nothing_readable(inbox.floor, end);
        if only_markers {
            tracing::info!(
                partition = self.partition,
                position = inbox.floor,
                end,
                "nothing readable between the position and the commands partition's probed end (transaction markers): taken"
            );
        }
        only_markers
    }

    /// Reads `[from, end)` of the commands partition: true when no committed record is
    /// there (only transaction markers or aborted records).
    fn nothing_readable(&self, from: i64, end: i64) -> bool {
        let mut list = rdkafka::TopicPartitionList::new();
        let start = match from {
            ..0 => rdkafka::Offset::Beginning,
            from => rdkafka::Offset::Offset(from),
        };
        if list
            .add_partition_offset(&self.topic, self.partition, start)
            .and_then(|()| self.consumer.assign(&list))
            .is_err()
        {
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => return message.offset() >= end,
                Some(Err(KafkaError::PartitionEOF(_))) | None => {
                    let position = self.consumer.position().ok().and_then(|list| {
                        list.find_partition(&self.topic, self.partition)
                            .and_then(|e| e.offset().to_raw())
                    });
                    if position.is_some_and(|position| position >= end) {
                        return true;
                    }
                }
                Some(Err(_)) => return false,
            }
        }
        false
    }
}

fn grace() -> chrono::Duration {
    chrono::Duration::from_std(STREAM_GRACE).unwrap_or_default()
}

/// Whether the consumer thread has handed no fetched command over for [`QUIET`].
fn quiet(inbox: &Inbox) -> bool {
    inbox.last_fetched.elapsed() >= QUIET
}

/// When a thread with nothing to do should look again, given its earliest deadline.
pub(crate) fn wake(due: DateTime<Utc>) -> Instant {
    let until = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    Instant::now() + until + STREAM_GRACE
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::processor::lanes::inbox::tests::{direct, fetched, inbox};

    #[test]
    fn the_consumer_falls_quiet_only_without_fetched_commands_whatever_direct_commands_do() {
        let (sender, mut inbox) = inbox(10);
        assert!(!quiet(&inbox));
        sender.send(fetched(10..15)).expect("send");
        assert!(inbox.fill(None));
        let _ = inbox.take(100);
        assert!(!quiet(&inbox));
        // The consumer hands nothing more for longer than QUIET, while direct commands keep
        // coming to the partition.
        let back = Instant::now().checked_sub(QUIET + Duration::from_millis(100));
        inbox.last_fetched = back.expect("an instant in the past");
        let (command, _reply) = direct();
        sender.send(command).expect("send");
        assert!(inbox.fill(None));
        let _ = inbox.take(100);
        assert!(
            quiet(&inbox),
            "direct commands say nothing of the commands topic"
        );
        sender.send(fetched(15..16)).expect("send");
        assert!(inbox.fill(None));
        assert!(!quiet(&inbox), "a fetched command ends the quiet");
    }
}
