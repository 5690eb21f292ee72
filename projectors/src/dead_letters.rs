//! Poison events: a record a projection cannot take goes to the dead-letter topic as it was
//! written (key, value and headers, read back from the log), with the error, the projection
//! and where it came from; or, by policy, it halts the projection.

use std::time::Duration;

use event_store::KafkaConfig;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::projections::{Poison, Projection};
use crate::worker::{PoisonPolicy, WorkerError, WorkerSettings};

/// How long reading a record back and making its dead letter durable may take.
const TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct DeadLetters {
    projection: Projection,
    kafka: KafkaConfig,
    producer: ThreadedProducer<DefaultProducerContext>,
    source_topic: String,
    topic: String,
    policy: PoisonPolicy,
}

impl DeadLetters {
    pub(crate) fn new(
        projection: Projection,
        kafka: KafkaConfig,
        settings: &WorkerSettings,
    ) -> Result<Self, WorkerError> {
        let producer = kafka
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()?;
        Ok(Self {
            projection,
            kafka,
            producer,
            source_topic: settings.events_topic.clone(),
            topic: settings.dead_letter_topic.clone(),
            policy: settings.on_poison,
        })
    }

    /// Dead-letters the record at `partition`/`offset` durably (before the offset that
    /// moves past it is committed), or halts, by policy.
    pub(crate) fn set_aside(
        &self,
        partition: i32,
        offset: i64,
        reason: &str,
    ) -> Result<(), WorkerError> {
        let name = self.projection.name();
        if self.policy == PoisonPolicy::Halt {
            return Err(WorkerError::Halted(Poison {
                event_id: uuid::Uuid::nil(),
                event_type: "unknown",
                order_id: schemas::values::OrderId::from_uuid(uuid::Uuid::nil()),
                version: 0,
                reason: format!("partition {partition} offset {offset}: {reason}"),
            }));
        }
        let original =
            event_store::read_record(&self.kafka, &self.source_topic, partition, offset, TIMEOUT)?
                .ok_or(WorkerError::NotReadBack { partition, offset })?;
        tracing::warn!(
            projection = name,
            partition,
            offset,
            reason,
            "poison event dead-lettered"
        );
        metrics::counter!("orderlog_projection_dead_letters_total", "projection" => name)
            .increment(1);
        let (partition, offset) = (partition.to_string(), offset.to_string());
        let ours = [
            ("orderlog_error", reason),
            ("orderlog_projection", name),
            ("orderlog_source_topic", self.source_topic.as_str()),
            ("orderlog_source_partition", partition.as_str()),
            ("orderlog_source_offset", offset.as_str()),
        ];
        let headers = ours.into_iter().fold(
            original
                .headers()
                .cloned()
                .unwrap_or_else(OwnedHeaders::new),
            |h, (key, value)| {
                h.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                })
            },
        );
        let mut out: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic)
            .payload(original.payload().unwrap_or_default())
            .headers(headers);
        if let Some(key) = original.key() {
            out = out.key(key);
        }
        self.producer.send(out).map_err(|(e, _)| e)?;
        self.producer.flush(TIMEOUT)?;
        Ok(())
    }
}
