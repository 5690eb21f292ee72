//! What a new writer of a partition writes before serving it: the abort of records a lost
//! transaction left open, and the dead letters of unusable records its rebuild found.

use std::time::Duration;

use event_store::{KafkaConfig, TopicSet, TransactionalProducer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer};

use crate::processor::error::ProcessorError;
use crate::processor::screening::untrusted::DeadLetter;
use crate::processor::store::marks::Marks;
use crate::processor::store::snapshots::{POSITION_KEY, Position, Screened};
use crate::processor::transaction::written::Written;

/// How long a previous writer's last transaction may take to become visible by itself
/// before it is taken for one the coordinator lost, and aborted.
const SETTLE_PATIENCE: Duration = Duration::from_secs(5);

/// Makes sure no transaction is left open on the partition of any topic a transaction
/// writes, so that reading to the end shows every committed batch and nothing else.
///
/// `init_transactions` has fenced the previous writer, and the coordinator has committed
/// or aborted what it knew to be open. But a broker restart can leave records of a
/// transaction the coordinator no longer knows (its commit failed with "invalid state"),
/// or a record of a failed writer retried after its transaction ended: such records hang
/// open, hold the partition's last stable offset back (a rebuild would miss every batch
/// after them), and the next commit of this writer's producer id would commit them too.
/// They are aborted here with the new epoch: an aborted transaction touching the partition
/// ends them.
pub(crate) fn settle(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    producer: &TransactionalProducer,
) -> Result<(), ProcessorError> {
    let open: Vec<Written> = Written::ALL
        .into_iter()
        .filter(|written| {
            event_store::wait_settled(kafka, written.topic(topics), partition, SETTLE_PATIENCE)
                .is_err()
        })
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    tracing::warn!(partition, topics = ?open, "records of a transaction left open; aborting them");
    producer.begin_transaction()?;
    for written in &open {
        metrics::counter!("orderlog_processor_open_transactions_aborted_total", "topic" => written.label())
            .increment(1);
        let headers = OwnedHeaders::new().insert(Header {
            key: "orderlog_settle",
            value: Some("abort"),
        });
        let empty: &[u8] = &[];
        let record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(written.topic(topics))
            .partition(partition)
            .payload(empty)
            .headers(headers);
        producer.send(record)?;
    }
    producer.wait_delivered(Duration::from_secs(10))?;
    producer.abort_transaction(Duration::from_secs(10))?;
    for written in open {
        // Not settled soon after the abort: the takeover starts over with a newer epoch
        // rather than waiting here (seen in broker_restart: a second abort ended it).
        event_store::wait_settled(kafka, written.topic(topics), partition, SETTLE_PATIENCE)?;
    }
    Ok(())
}

/// Writes the dead letters of the unusable records the rebuild found, in one transaction
/// with the position that says they are written (so no later takeover writes them again).
/// Without a recorded position, the first batch records how far the partition was screened.
pub(crate) fn dead_letter(
    topics: &TopicSet,
    partition: i32,
    producer: &TransactionalProducer,
    letters: Vec<DeadLetter>,
    next_offset: Option<i64>,
    screened: Screened,
    marks: Marks,
) -> Result<(), ProcessorError> {
    if letters.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        partition,
        letters = letters.len(),
        "dead-lettering unusable records found while taking over"
    );
    producer.begin_transaction()?;
    let sent = (|| {
        for (key, value, headers) in &letters {
            let mut record: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(Written::DeadLetter.topic(topics))
                    .partition(partition)
                    .payload(value.as_deref().unwrap_or_default())
                    .headers(headers.clone());
            if let Some(key) = key {
                record = record.key(key.as_slice());
            }
            producer.send(record)?;
        }
        if let Some(next_offset) = next_offset {
            let position = serde_json::to_vec(&Position {
                next_offset,
                screened,
            })
            .unwrap_or_default();
            let record: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(Written::Snapshots.topic(topics))
                    .partition(partition)
                    .key(POSITION_KEY)
                    .payload(position.as_slice())
                    .headers(marks.add_to(OwnedHeaders::new()));
            producer.send(record)?;
        }
        producer.wait_delivered(Duration::from_secs(10))
    })();
    match sent {
        Ok(()) => producer.commit_transaction(Duration::from_secs(10))?,
        Err(error) => {
            let _ = producer.abort_transaction(Duration::from_secs(10));
            return Err(error.into());
        }
    }
    metrics::counter!("orderlog_processor_dead_letters_total", "reason" => "unusable_at_takeover")
        .increment(letters.len() as u64);
    Ok(())
}
