//! The partition's transactional writer: creating it (which fences the previous owner),
//! and the steps of every transaction: begun, records sent, delivered, committed, or
//! aborted, and how a failure is classified.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet, TransactionalProducer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer};

pub(crate) const TXN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a commit whose outcome is not known yet is retried before the producer is
/// replaced: past the transaction timeout (30 s), the coordinator has decided it.
const COMMIT_PATIENCE: Duration = Duration::from_secs(45);

/// The stable transactional id of a partition's writer: a new owner initialising it fences
/// the previous owner and aborts its open transaction at once.
pub(crate) fn transactional_id(topics: &TopicSet, partition: i32) -> String {
    format!("{}.processor-{partition}", topics.commands)
}

/// A new writer for the partition, initialised: from here on the previous one is fenced.
pub(crate) fn new_producer(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<TransactionalProducer, KafkaError> {
    let mut config = kafka.transactional_producer(&transactional_id(topics, partition));
    config.set(
        "statistics.interval.ms",
        event_store::statistics::INTERVAL_MS,
    );
    let producer = TransactionalProducer::create(&config)?;
    producer.init_transactions(TXN_TIMEOUT)?;
    Ok(producer)
}

/// How a failed transaction ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    /// Aborted; the state is restored. The producer is replaced all the same: with
    /// librdkafka's transactions a record of the aborted transaction still retried could
    /// otherwise land in the next one.
    #[error("transaction aborted: {0}")]
    Aborted(KafkaError),
    /// The producer cannot go on (fenced, or a commit whose outcome it could not learn);
    /// the state is restored, and the partition must be re-initialised (which settles the
    /// outcome at the coordinator) and rebuilt from the log, or given up.
    #[error("producer unusable: {0}")]
    Fatal(KafkaError),
    /// The state cannot take an event the domain decided, or an order's events do not
    /// fold: a bug. Aborted; not retried.
    #[error("state corrupt: {0}")]
    Corrupt(String),
    /// An order's snapshot was unreadable and its events could not be read: nothing was
    /// written; the partition is recovered like after a fatal error.
    #[error("order state not loaded: {0}")]
    NotLoaded(String),
    /// Committed, as far as `commit_transaction` said, but not readable in time: not
    /// trusted. Nothing is answered; the partition is taken over afresh from the log.
    #[error("committed but not visible: {0}")]
    NotVisible(String),
}

/// The partition's writer, as one transaction after another uses it.
pub(crate) struct Writer {
    pub(crate) producer: TransactionalProducer,
    pub(crate) partition: i32,
}

impl Writer {
    /// Begins a transaction.
    pub(crate) fn begin(&self) -> Result<(), BatchError> {
        self.producer
            .begin_transaction()
            .map_err(|e| self.classify(e))
    }

    /// Commits the open transaction. A commit that timed out may still complete (the broker
    /// may have it; librdkafka says "retry call to resume"), so its outcome is unknown and
    /// nothing may be decided again until it is known: the same commit is resumed until it
    /// succeeds, turns out aborted, or the producer is lost (then the caller replaces it and
    /// reads the outcome from the log).
    pub(crate) fn commit(&self, stopping: &AtomicBool) -> Result<(), BatchError> {
        let deadline = Instant::now() + COMMIT_PATIENCE;
        loop {
            match self.producer.commit_transaction(TXN_TIMEOUT) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Transaction(error))
                    if error.is_retriable()
                        && !error.is_fatal()
                        && !error.txn_requires_abort()
                        && Instant::now() < deadline
                        && !stopping.load(Ordering::SeqCst) =>
                {
                    tracing::warn!(partition = self.partition, %error, "commit outcome not known yet; resuming the commit");
                    metrics::counter!("orderlog_processor_commit_retries_total").increment(1);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => return Err(self.abort(error)),
            }
        }
    }

    /// Aborts the open transaction after a bug showed; nothing is retried.
    pub(crate) fn abandon(&self, reason: String) -> BatchError {
        match self.producer.abort_transaction(TXN_TIMEOUT) {
            Ok(()) => BatchError::Corrupt(reason),
            Err(abort_error) => BatchError::Fatal(abort_error),
        }
    }

    pub(crate) fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        headers: Option<rdkafka::message::OwnedHeaders>,
        timestamp: Option<i64>,
    ) -> Result<(), BatchError> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
            .payload(value)
            .partition(self.partition);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        if let Some(timestamp) = timestamp {
            record = record.timestamp(timestamp);
        }
        self.producer
            .send(record)
            .map_err(|error| self.abort(error))
    }

    /// Waits until every record of the transaction is acknowledged, so the commit finds
    /// nothing in flight (rust-rdkafka's `commit_transaction` flushes in 100 ms polls).
    pub(crate) fn drain(&self) -> Result<(), BatchError> {
        self.producer
            .wait_delivered(TXN_TIMEOUT)
            .map_err(|error| self.abort(error))
    }

    /// Aborts the open transaction when the error allows it.
    pub(crate) fn abort(&self, error: KafkaError) -> BatchError {
        let classified = self.classify(error);
        if let BatchError::Aborted(_) = &classified
            && let Err(abort_error) = self.producer.abort_transaction(TXN_TIMEOUT)
        {
            return BatchError::Fatal(abort_error);
        }
        classified
    }

    pub(crate) fn classify(&self, error: KafkaError) -> BatchError {
        match &error {
            KafkaError::Transaction(e)
                if e.is_fatal() || e.is_retriable() && !e.txn_requires_abort() =>
            {
                BatchError::Fatal(error)
            }
            KafkaError::Transaction(_) | KafkaError::MessageProduction(_) => {
                BatchError::Aborted(error)
            }
            _ => BatchError::Aborted(error),
        }
    }
}
