//! A transaction is trusted once read_committed readers see it committed, not when
//! `commit_transaction` returns.
//!
//! `broker_restart` showed the difference: with commands answered right after their
//! commit returned, commands answered during broker kills were missing from the orders'
//! state afterwards, and each such run had a takeover find records "left open" on the
//! partition (which `settle` aborts). Whatever the coordinator's side of it, a return from
//! `commit_transaction` during broker kills does not prove that every record of the
//! transaction is committed. So after each commit the partition's thread checks, before it
//! answers anything or keeps the new state:
//! - on every partition the transaction wrote, the last stable offset has passed the
//!   transaction's last record: its marker is written there, nothing of it is left open;
//! - read back with read_committed, one of its records is there: the markers say commit.
//!
//! A transaction that does not pass in time is not trusted: nothing is answered, and the
//! partition is taken over afresh from the log (its commands are sent again; the command
//! ids make that safe).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::{Delivered, KafkaConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// How long a committed transaction may take to become visible. Its markers are written
/// within milliseconds; longer means records of it are held open (or another producer's
/// open transaction is ahead of them), which a takeover settles.
const PATIENCE: Duration = Duration::from_secs(10);

/// Reads last stable offsets and reads records back, both read_committed.
pub(crate) struct Visibility {
    stable: BaseConsumer,
    reader: BaseConsumer,
    patience: Duration,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum NotVisible {
    #[error("{topic}/{partition} not readable past offset {offset} after {waited:?}")]
    Late {
        topic: String,
        partition: i32,
        offset: i64,
        waited: Duration,
    },
    #[error("{topic}/{partition} offsets {first}..={last} were not committed")]
    Aborted {
        topic: String,
        partition: i32,
        first: i64,
        last: i64,
    },
    #[error("reading {topic}/{partition}: {error}")]
    Unreadable {
        topic: String,
        partition: i32,
        error: KafkaError,
    },
    #[error("the partition is being given up")]
    Stopping,
}

impl Visibility {
    pub(crate) fn new(kafka: &KafkaConfig) -> Result<Self, KafkaError> {
        Self::with_patience(kafka, PATIENCE)
    }

    pub(crate) fn with_patience(
        kafka: &KafkaConfig,
        patience: Duration,
    ) -> Result<Self, KafkaError> {
        Ok(Self {
            stable: kafka
                .read_committed_consumer("orderlog-visibility")
                .create()?,
            reader: kafka
                .read_committed_consumer("orderlog-visibility")
                .set("enable.partition.eof", "true")
                .set("fetch.wait.max.ms", "10")
                .create()?,
            patience,
        })
    }

    /// Returns once the transaction that wrote `written` is committed and readable.
    pub(crate) fn wait(
        &self,
        written: &[Delivered],
        stopping: &AtomicBool,
    ) -> Result<(), NotVisible> {
        let deadline = Instant::now() + self.patience;
        self.settled(written, deadline, stopping)?;
        // One partition read back: the markers of one transaction all say the same.
        match written.first() {
            Some(one) => self.committed(one, deadline),
            None => Ok(()),
        }
    }

    /// Waits until every partition's last stable offset has passed the records on it.
    fn settled(
        &self,
        written: &[Delivered],
        deadline: Instant,
        stopping: &AtomicBool,
    ) -> Result<(), NotVisible> {
        let started = Instant::now();
        let mut pending: Vec<&Delivered> = written.iter().collect();
        loop {
            let mut still = Vec::new();
            for delivered in pending {
                let stable = self
                    .stable
                    .fetch_watermarks(&delivered.topic, delivered.partition, self.patience)
                    .map_err(|error| unreadable(delivered, error))?
                    .1;
                if stable <= delivered.last {
                    still.push(delivered);
                }
            }
            let Some(late) = still.first() else {
                return Ok(());
            };
            if Instant::now() > deadline {
                return Err(NotVisible::Late {
                    topic: late.topic.clone(),
                    partition: late.partition,
                    offset: late.last,
                    waited: started.elapsed(),
                });
            }
            if stopping.load(Ordering::SeqCst) {
                return Err(NotVisible::Stopping);
            }
            pending = still;
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Reads the partition from the transaction's first record there: read_committed
    /// returns one of its records if it committed, and skips them all if it aborted.
    fn committed(&self, delivered: &Delivered, deadline: Instant) -> Result<(), NotVisible> {
        let mut from = TopicPartitionList::new();
        from.add_partition_offset(
            &delivered.topic,
            delivered.partition,
            Offset::Offset(delivered.first),
        )
        .map_err(|error| unreadable(delivered, error))?;
        self.reader
            .assign(&from)
            .map_err(|error| unreadable(delivered, error))?;
        let aborted = || NotVisible::Aborted {
            topic: delivered.topic.clone(),
            partition: delivered.partition,
            first: delivered.first,
            last: delivered.last,
        };
        while Instant::now() < deadline {
            match self.reader.poll(Duration::from_millis(100)) {
                Some(Ok(message)) if message.offset() <= delivered.last => return Ok(()),
                Some(Ok(_)) => return Err(aborted()),
                Some(Err(KafkaError::PartitionEOF(_))) => return Err(aborted()),
                Some(Err(error)) if !event_store::reader::is_transient(&error) => {
                    return Err(unreadable(delivered, error));
                }
                Some(Err(_)) | None => {}
            }
        }
        Err(unreadable(
            delivered,
            KafkaError::MessageConsumption(RDKafkaErrorCode::OperationTimedOut),
        ))
    }
}

fn unreadable(delivered: &Delivered, error: KafkaError) -> NotVisible {
    NotVisible::Unreadable {
        topic: delivered.topic.clone(),
        partition: delivered.partition,
        error,
    }
}
