//! Poison events: a record a projection cannot take goes to the dead-letter topic as it was
//! written (key, value and headers, read back from the log), with the error, the projection
//! and where it came from. A record that can no longer be read back, or is too large to
//! copy beside those headers, is dead-lettered by reference: its origin and the reason,
//! with no value. Whether to dead-letter at all is the worker's decision.

use std::sync::Mutex;
use std::time::Duration;

use event_store::KafkaConfig;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::projections::Projection;

/// How long reading a record back and making its dead letter durable may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest value copied into a dead letter: below the broker's default record limit
/// (1 MB), with room for the headers.
const MAX_COPIED_VALUE: usize = 900 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeadLetterError {
    #[error("reading the record back: {0}")]
    ReadBack(KafkaError),
    #[error("writing the dead letter: {0}")]
    Write(KafkaError),
}

/// Remembers the last delivery failure, so a dead letter the broker refused is noticed.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<KafkaError>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result
            && let Ok(mut failed) = self.failed.lock()
        {
            *failed = Some(error.clone());
        }
    }
}

pub(crate) struct DeadLetters {
    projection: Projection,
    kafka: KafkaConfig,
    producer: ThreadedProducer<Deliveries>,
    source_topic: String,
    topic: String,
}

impl DeadLetters {
    pub(crate) fn new(
        projection: Projection,
        kafka: KafkaConfig,
        source_topic: &str,
        topic: &str,
    ) -> Result<Self, KafkaError> {
        let producer = kafka
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create_with_context(Deliveries::default())?;
        Ok(Self {
            projection,
            kafka,
            producer,
            source_topic: source_topic.to_owned(),
            topic: topic.to_owned(),
        })
    }

    /// Dead-letters the record at `partition`/`offset` durably (before the offset that
    /// moves past it is committed). An error is worth retrying: Kafka was unavailable.
    pub(crate) fn set_aside(
        &self,
        partition: i32,
        offset: i64,
        reason: &str,
    ) -> Result<(), DeadLetterError> {
        let original =
            event_store::read_record(&self.kafka, &self.source_topic, partition, offset, TIMEOUT)
                .map_err(DeadLetterError::ReadBack)?;
        let copied = original
            .as_ref()
            .filter(|m| m.payload().map_or(0, <[u8]>::len) <= MAX_COPIED_VALUE);
        let by_reference = copied.is_none();
        match self.write(copied, partition, offset, reason) {
            Err(DeadLetterError::Write(error)) if is_too_large(&error) && !by_reference => {
                self.write(None, partition, offset, reason)?;
            }
            other => other?,
        }
        let name = self.projection.name();
        tracing::warn!(
            projection = name,
            partition,
            offset,
            reason,
            by_reference,
            "poison event dead-lettered"
        );
        metrics::counter!("orderlog_projection_dead_letters_total", "projection" => name)
            .increment(1);
        Ok(())
    }

    /// Writes one dead letter: a copy of `original` with our headers added, or (without
    /// it) a reference to where the record is.
    fn write(
        &self,
        original: Option<&OwnedMessage>,
        partition: i32,
        offset: i64,
        reason: &str,
    ) -> Result<(), DeadLetterError> {
        let (partition, offset) = (partition.to_string(), offset.to_string());
        let ours = [
            ("orderlog_error", reason),
            ("orderlog_projection", self.projection.name()),
            ("orderlog_source_topic", self.source_topic.as_str()),
            ("orderlog_source_partition", partition.as_str()),
            ("orderlog_source_offset", offset.as_str()),
            (
                "orderlog_copy",
                if original.is_some() {
                    "full"
                } else {
                    "reference"
                },
            ),
        ];
        let kept = original
            .and_then(|m| m.headers().cloned())
            .unwrap_or_default();
        let headers = ours.into_iter().fold(kept, |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(value.as_bytes()),
            })
        });
        let mut out: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic).headers(headers);
        if let Some(original) = original {
            out = out.payload(original.payload().unwrap_or_default());
            if let Some(key) = original.key() {
                out = out.key(key);
            }
        }
        if let Ok(mut failed) = self.producer.context().failed.lock() {
            *failed = None;
        }
        self.producer
            .send(out)
            .map_err(|(error, _)| DeadLetterError::Write(error))?;
        self.producer
            .flush(TIMEOUT)
            .map_err(DeadLetterError::Write)?;
        let failed = self
            .producer
            .context()
            .failed
            .lock()
            .ok()
            .and_then(|mut f| f.take());
        failed.map_or(Ok(()), |error| Err(DeadLetterError::Write(error)))
    }
}

fn is_too_large(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidRecord)
    )
}
