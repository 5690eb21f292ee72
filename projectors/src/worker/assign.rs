//! Where a worker's partitions start: at the offsets PostgreSQL holds, never at Kafka's own
//! committed offsets. Set inside the rebalance callback; when the database cannot be read
//! then, the partitions wait (assigned to no fetch) until it can.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_store::Backoff;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::runtime::Handle;

use super::status::WorkerStatus;
use crate::offsets;
use crate::projections::Projection;

/// The offset a partition starts at: the stored next offset, or the log's beginning.
fn start_offset(stored: &HashMap<i32, i64>, partition: i32) -> Offset {
    stored
        .get(&partition)
        .map_or(Offset::Beginning, |offset| Offset::Offset(*offset))
}

/// The consumer's context: assigns partitions at their stored offsets.
pub(super) struct StartAtStoredOffsets {
    pub(super) projection: Projection,
    pub(super) topic: String,
    pub(super) pool: PgPool,
    pub(super) runtime: Handle,
    pub(super) status: Arc<WorkerStatus>,
    /// The `client` label of this consumer's librdkafka statistics.
    client: String,
    /// Partitions the group gave this worker whose stored offsets could not be read yet.
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    partitions: Vec<i32>,
    backoff: Option<Backoff>,
    next_try: Option<Instant>,
}

impl StartAtStoredOffsets {
    pub(super) fn new(
        projection: Projection,
        topic: String,
        pool: PgPool,
        runtime: Handle,
        status: Arc<WorkerStatus>,
    ) -> Self {
        Self {
            projection,
            topic,
            pool,
            runtime,
            status,
            client: format!("projection-{}", projection.name()),
            pending: Mutex::default(),
        }
    }

    fn stored(&self) -> Result<HashMap<i32, i64>, sqlx::Error> {
        self.runtime.block_on(offsets::load(
            &self.pool,
            self.projection.name(),
            &self.topic,
        ))
    }

    fn assign_at(
        &self,
        consumer: &BaseConsumer<Self>,
        partitions: &[i32],
        stored: &HashMap<i32, i64>,
    ) -> Result<(), KafkaError> {
        let mut list = TopicPartitionList::new();
        for &partition in partitions {
            list.add_partition_offset(&self.topic, partition, start_offset(stored, partition))?;
        }
        consumer.assign(&list)?;
        tracing::info!(
            projection = self.projection.name(),
            ?partitions,
            "partitions assigned at stored offsets"
        );
        self.status.set_assigned(partitions.to_vec());
        Ok(())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Assigns the partitions still waiting for their stored offsets, once their retry
    /// is due. Called by the worker's poll loop.
    pub(super) fn retry_pending(&self, consumer: &BaseConsumer<Self>) {
        let mut pending = self.pending();
        if pending.partitions.is_empty() || pending.next_try.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let partitions = pending.partitions.clone();
        match self.stored() {
            Ok(stored) => match self.assign_at(consumer, &partitions, &stored) {
                Ok(()) => {
                    *pending = Pending::default();
                    self.status.set_waiting(None);
                }
                Err(error) => {
                    tracing::warn!(projection = self.projection.name(), %error, "assigning partitions failed; retrying");
                    schedule(&mut pending);
                }
            },
            Err(error) => {
                tracing::warn!(projection = self.projection.name(), %error, "stored offsets still unreadable; partitions wait");
                schedule(&mut pending);
            }
        }
    }
}

fn schedule(pending: &mut Pending) {
    let backoff = pending
        .backoff
        .get_or_insert_with(|| Backoff::new(Duration::from_millis(200), Duration::from_secs(5)));
    pending.next_try = Some(Instant::now() + backoff.next_delay());
}

impl ClientContext for StartAtStoredOffsets {
    fn stats(&self, statistics: rdkafka::Statistics) {
        event_store::statistics::record(&self.client, &statistics);
    }
}

impl ConsumerContext for StartAtStoredOffsets {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            let _ = consumer.unassign();
            self.status.set_assigned(vec![]);
            *self.pending() = Pending::default();
            return;
        }
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let assigned = self
            .stored()
            .map_err(|error| error.to_string())
            .and_then(|stored| {
                self.assign_at(consumer, &partitions, &stored)
                    .map_err(|error| error.to_string())
            });
        if let Err(error) = assigned {
            // Nothing can be applied safely without the stored offsets: the partitions
            // are taken with no fetch until the database answers again.
            tracing::warn!(projection = self.projection.name(), %error, ?partitions, "cannot read stored offsets; the partitions wait");
            let _ = consumer.assign(&TopicPartitionList::new());
            self.status.set_assigned(vec![]);
            self.status
                .set_waiting(Some(format!("reading stored offsets: {error}")));
            let mut pending = self.pending();
            pending.partitions = partitions;
            schedule(&mut pending);
        }
    }
}

/// Seeks every assigned partition to its stored offset (they moved back) and starts a
/// new epoch.
pub(super) fn resync(
    consumer: &BaseConsumer<StartAtStoredOffsets>,
    status: &WorkerStatus,
) -> Result<(), ResyncError> {
    let context = consumer.context();
    let stored = context.stored()?;
    for partition in status.assigned() {
        consumer.seek(
            &context.topic,
            partition,
            start_offset(&stored, partition),
            Duration::from_secs(10),
        )?;
    }
    status.resynced();
    tracing::warn!(
        projection = context.projection.name(),
        "stored offsets moved back; re-reading from them"
    );
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub(super) enum ResyncError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_starts_at_its_stored_offset_or_the_beginning() {
        let stored = HashMap::from([(0, 42)]);
        assert_eq!(start_offset(&stored, 0), Offset::Offset(42));
        assert_eq!(start_offset(&stored, 1), Offset::Beginning);
    }
}
