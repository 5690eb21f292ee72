//! A transaction is trusted once read_committed readers see it committed, not when
//! `commit_transaction` returns.
//!
//! `broker_restart` showed the difference: with commands answered right after their
//! commit returned, commands answered during broker kills were missing from the orders'
//! state afterwards, and each such run had a takeover find records "left open" on the
//! partition (which `settle` aborts). Whatever the coordinator's side of it, a return from
//! `commit_transaction` during broker kills does not prove that every record of the
//! transaction is committed. So each partition's thread reads its own partitions back: a
//! read_committed consumer, assigned the partition of every topic a transaction writes
//! from where they ended at the takeover, receives a record only once its transaction's
//! commit marker is written on that partition. After each commit the thread waits until
//! the last record the transaction wrote on each partition has come back; only then are
//! its commands answered and its state kept. (A record that comes back proves its commit;
//! the broker completes the reader's waiting fetch as soon as the marker moves the last
//! stable offset, so this costs about one fetch after the markers.)
//!
//! A transaction that does not come back in time (aborted records are never returned) is
//! not trusted: nothing is answered, and the partition is taken over afresh from the
//! log (its commands are sent again; the command ids make that safe).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::{Delivered, KafkaConfig, TopicSet};
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

use crate::processor::transaction::written::Written;

/// How long a committed transaction may take to come back. Its markers are written within
/// milliseconds; longer means records of it are held open (or another producer's open
/// transaction is ahead of them), which a takeover settles.
const PATIENCE: Duration = Duration::from_secs(10);

/// Reads a partition's own records back, read_committed.
pub(crate) struct Visibility {
    echo: BaseConsumer,
    /// The highest offset come back, by topic.
    seen: HashMap<String, i64>,
    patience: Duration,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum NotVisible {
    #[error("{topic}/{partition} offset {offset} not read back after {waited:?}")]
    Late {
        topic: String,
        partition: i32,
        offset: i64,
        waited: Duration,
    },
    #[error("reading back: {0}")]
    Unreadable(KafkaError),
    #[error("the partition is being given up")]
    Stopping,
}

impl Visibility {
    /// Starts reading `partition` of every topic a transaction writes, from its end.
    pub(crate) fn new(
        kafka: &KafkaConfig,
        topics: &TopicSet,
        partition: i32,
    ) -> Result<Self, KafkaError> {
        Self::with_patience(kafka, topics, partition, PATIENCE)
    }

    pub(crate) fn with_patience(
        kafka: &KafkaConfig,
        topics: &TopicSet,
        partition: i32,
        patience: Duration,
    ) -> Result<Self, KafkaError> {
        let echo: BaseConsumer = kafka
            .read_committed_consumer("orderlog-visibility")
            .set("enable.partition.eof", "false")
            // The broker answers a waiting fetch as soon as a commit marker moves the last
            // stable offset; the wait only bounds idle fetches.
            .set("fetch.wait.max.ms", "100")
            .create()?;
        // From the end as of now, before the first transaction's records.
        let wanted: Vec<(&str, i32)> = Written::ALL
            .iter()
            .map(|written| (written.topic(topics), partition))
            .collect();
        event_store::assign_at_end(&echo, &wanted, patience)?;
        Ok(Self {
            echo,
            seen: HashMap::new(),
            patience,
        })
    }

    /// Returns once the last record of `written` on each partition has come back.
    pub(crate) fn wait(
        &mut self,
        written: &[Delivered],
        stopping: &AtomicBool,
    ) -> Result<(), NotVisible> {
        let started = Instant::now();
        let deadline = started + self.patience;
        loop {
            let mut missing = None;
            for delivered in written {
                match self.seen.get(&delivered.topic) {
                    Some(&seen) if seen >= delivered.last => {}
                    _ => missing = Some(delivered),
                }
            }
            let Some(missing) = missing else {
                return Ok(());
            };
            let now = Instant::now();
            if now > deadline {
                return Err(NotVisible::Late {
                    topic: missing.topic.clone(),
                    partition: missing.partition,
                    offset: missing.last,
                    waited: started.elapsed(),
                });
            }
            if stopping.load(Ordering::SeqCst) {
                return Err(NotVisible::Stopping);
            }
            match self.echo.poll(
                deadline
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(100)),
            ) {
                Some(Ok(message)) => {
                    let seen = self.seen.entry(message.topic().to_owned()).or_insert(-1);
                    *seen = (*seen).max(message.offset());
                }
                Some(Err(error)) if event_store::reader::is_transient(&error) => {}
                Some(Err(error)) => return Err(NotVisible::Unreadable(error)),
                None => {}
            }
        }
    }
}
