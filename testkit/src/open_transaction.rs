//! A transaction another producer holds open on some partitions: read_committed readers see
//! nothing of those partitions past its first record until it ends, as behind a
//! transaction a crashed producer left open, or a commit whose markers are not written yet.
//! Tests and the fault suite use it to hold up what reads a partition to its end.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaResult;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

pub struct OpenTransaction {
    producer: ThreadedProducer<DefaultProducerContext>,
}

impl OpenTransaction {
    /// Opens a transaction of `transactional_id` (no writer of the platform's) with one
    /// record on each of `partitions` of `topic` (every partition when empty). It outlives
    /// any test: the broker does not end it on its own for ten minutes.
    ///
    /// # Errors
    /// When the broker does not take the transaction.
    pub fn hold(
        bootstrap: &str,
        topic: &str,
        partitions: &[i32],
        transactional_id: &str,
    ) -> KafkaResult<Self> {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("transactional.id", transactional_id)
            .set("transaction.timeout.ms", "600000")
            .create()?;
        producer.init_transactions(Duration::from_secs(60))?;
        producer.begin_transaction()?;
        let every: Vec<i32>;
        let partitions = if partitions.is_empty() {
            let count = producer
                .client()
                .fetch_metadata(Some(topic), Duration::from_secs(30))?
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len());
            every = (0..i32::try_from(count).unwrap_or(0)).collect();
            &every
        } else {
            partitions
        };
        for &partition in partitions {
            producer
                .send(
                    BaseRecord::to(topic)
                        .partition(partition)
                        .key("held-open")
                        .payload("held open, then aborted"),
                )
                .map_err(|(error, _)| error)?;
        }
        producer.flush(Duration::from_secs(30))?;
        Ok(Self { producer })
    }

    /// Ends the transaction: its records are aborted, and readers go on.
    ///
    /// # Errors
    /// When the broker does not take the abort.
    pub fn abort(self) -> KafkaResult<()> {
        self.producer.abort_transaction(Duration::from_secs(30))
    }
}
