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
//! marker, which no fetch hands over: after [`QUIET`] without a fetched command (or
//! [`SILENT`] when none came at all) the commands up to it count as taken.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::consumer::BaseConsumer;

use crate::processor::lanes::inbox::Inbox;

/// How far the broker's clock may lag this machine's (its append times are the commands'
/// received times) and how long a command handed over in-process may take to reach the
/// inbox.
pub(crate) const STREAM_GRACE: Duration = Duration::from_millis(250);

/// How long the consumer thread may have handed no fetched command over, once it handed
/// some since the probe, before the commands up to the probed end count as taken though
/// the position stopped short of it (direct commands do not count).
const QUIET: Duration = Duration::from_secs(2);

/// The same when nothing came at all since the lane started (all of it aborted, or a
/// consumer that cannot fetch): deadlines are late then rather than never.
const SILENT: Duration = Duration::from_secs(30);

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
        }
    }

    /// Stream time for deadlines due by `due` (the earliest pending): every command
    /// received before the returned moment has been taken. Probes the commands partition
    /// when what is known does not reach `due` yet.
    pub(super) fn stream_time(&mut self, inbox: &Inbox, due: DateTime<Utc>) -> DateTime<Utc> {
        if let Some(probe) = self.waiting
            && taken(probe.end, inbox)
        {
            if inbox.floor < probe.end {
                tracing::info!(
                    partition = self.partition,
                    position = inbox.floor,
                    end = probe.end,
                    "commands up to the probed end count as taken: the consumer fell quiet short of it"
                );
            }
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
}

fn grace() -> chrono::Duration {
    chrono::Duration::from_std(STREAM_GRACE).unwrap_or_default()
}

/// Whether the commands below `end` are taken: the position reached it, or the consumer
/// fell quiet ([`QUIET`]; [`SILENT`] when it handed nothing since the lane started).
pub(super) fn taken(end: i64, inbox: &Inbox) -> bool {
    let quiet = match inbox.took_fetched {
        true => QUIET,
        false => SILENT,
    };
    inbox.floor >= end || inbox.last_fetched.elapsed() >= quiet
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
    fn commands_are_taken_at_the_probed_end_or_after_the_consumer_fell_quiet_whatever_direct_commands_do()
     {
        let (sender, mut inbox) = inbox(10);
        assert!(!taken(20, &inbox));
        sender.send(fetched(10..15)).expect("send");
        assert!(inbox.fill(None));
        let _ = inbox.take(100);
        assert!(!taken(20, &inbox), "half of them taken");
        // The consumer hands nothing more for longer than QUIET (the end was a transaction
        // marker), while direct commands keep coming to the partition.
        let back = Instant::now().checked_sub(QUIET + Duration::from_millis(100));
        inbox.last_fetched = back.expect("an instant in the past");
        let (command, _reply) = direct();
        sender.send(command).expect("send");
        assert!(inbox.fill(None));
        let _ = inbox.take(100);
        assert!(
            taken(20, &inbox),
            "direct commands say nothing of the commands topic"
        );
        // Taken to the end: at once.
        let (sender, mut inbox) = super::super::inbox::tests::inbox(10);
        sender.send(fetched(10..20)).expect("send");
        assert!(inbox.fill(None));
        let _ = inbox.take(100);
        assert!(taken(20, &inbox));
    }
}
