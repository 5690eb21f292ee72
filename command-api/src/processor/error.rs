//! Why the processor role stopped, and which failures a takeover waits out.

use rdkafka::error::KafkaError;

use super::recovery::rebuild;

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("rebuilding partition {partition}: {error}")]
    Rebuild {
        partition: i32,
        error: rebuild::RebuildError,
    },
    #[error("partition {partition}: {error}")]
    Batch { partition: i32, error: String },
    #[error("the processor thread panicked")]
    Panicked,
    #[error("the takeover was cancelled: the partition was revoked")]
    Cancelled,
}

impl ProcessorError {
    /// Worth retrying: the cluster is busy, starting, or briefly out of reach.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            ProcessorError::Kafka(KafkaError::Transaction(error)) if error.is_retriable() => true,
            ProcessorError::Kafka(error) => event_store::reader::is_transient(error),
            ProcessorError::Rebuild {
                error: rebuild::RebuildError::Read { .. },
                ..
            } => true,
            // The batch could not load an order (its events could not be read).
            ProcessorError::Batch { .. } => false,
            _ => false,
        }
    }
}

impl ProcessorError {
    /// Another writer initialised the same transactional id after ours (a takeover whose
    /// request reached the coordinator late, or the partition's next owner): not a bug; a
    /// takeover starts over with a new writer while the partition is still assigned here.
    pub(crate) fn is_fenced(&self) -> bool {
        use rdkafka::types::RDKafkaErrorCode as Code;
        let fenced = |code: Code| {
            matches!(
                code,
                Code::Fenced | Code::ProducerFenced | Code::InvalidProducerEpoch | Code::Fatal
            )
        };
        match self {
            ProcessorError::Kafka(KafkaError::Transaction(error)) => {
                error.is_fatal() || fenced(error.code())
            }
            ProcessorError::Kafka(error) => error.rdkafka_error_code().is_some_and(fenced),
            _ => false,
        }
    }
}
