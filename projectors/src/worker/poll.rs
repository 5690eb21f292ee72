//! The consuming half's units: records read from the log and the batches handed over.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use event_store::wire;
use rdkafka::Message;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::BorrowedMessage;
use schemas::EventEnvelope;

use super::assign::StartAtStoredOffsets;
use crate::offsets;

/// An event read from the log, a record that could not be read as one, or one that was
/// dead-lettered (its offset still counts; it is not applied).
// Nearly every record is an Event; boxing it would allocate once per event for nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Read {
    Event(EventEnvelope),
    Unreadable(String),
    Skipped,
}

/// What the poll thread hands the applier.
pub(super) enum Work {
    /// Records to apply, with the log's end per partition when they were read.
    Batch {
        epoch: u64,
        batch: Vec<Record>,
        highs: HashMap<i32, i64>,
    },
    /// Nothing new: the consumer's position and the log's end per partition.
    Idle(Vec<offsets::LogEnd>),
}

/// A record read from the log: where it is and what it holds. Its bytes are not kept: a
/// record set aside is read back from the log for the dead-letter topic, so the common case
/// copies and frees nothing but the decoded event.
pub(super) struct Record {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) read: Read,
}

/// Takes the records that have arrived, up to `batch_max`. Once the batch holds one, it
/// waits at most `linger` in all for more to arrive, but only while events stream in (the
/// previous record came less than `linger` before this batch's first): an event after a
/// quiet spell goes at once, so an idle platform waits for no timer meant for load (before
/// this, the idle freshness was the linger, 20 ms, against a command p99 of 10 ms).
/// Records already fetched are taken without waiting, so a worker catching up fills whole
/// batches however long decoding them takes. `last_record`: when the previous record came.
pub(super) fn poll_batch(
    consumer: &BaseConsumer<StartAtStoredOffsets>,
    batch_max: usize,
    linger: Duration,
    last_record: &mut Option<Instant>,
) -> Vec<Record> {
    let mut batch = Vec::new();
    let mut waited = Duration::ZERO;
    let mut linger_now = linger;
    let mut timeout = Duration::from_millis(100);
    while batch.len() < batch_max {
        let started = Instant::now();
        let polled = consumer.poll(timeout);
        if !batch.is_empty() && !timeout.is_zero() {
            waited += started.elapsed();
        }
        match polled {
            Some(Ok(message)) => {
                let now = Instant::now();
                if batch.is_empty() && !streaming(*last_record, now, linger) {
                    linger_now = Duration::ZERO;
                }
                *last_record = Some(now);
                batch.push(record(&message));
                timeout = Duration::ZERO;
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "consumer error");
                break;
            }
            None if batch.is_empty() => return batch,
            None if waited >= linger_now => break,
            None => timeout = (linger_now - waited).min(Duration::from_millis(5)),
        }
    }
    batch
}

/// Whether events are streaming in: the previous one came less than `linger` ago.
fn streaming(last_record: Option<Instant>, now: Instant, linger: Duration) -> bool {
    last_record.is_some_and(|at| now.saturating_duration_since(at) < linger)
}

fn record(message: &BorrowedMessage<'_>) -> Record {
    Record {
        partition: message.partition(),
        offset: message.offset(),
        read: match wire::decode_event(message) {
            Ok(event) => Read::Event(event),
            Err(error) => Read::Unreadable(error.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_lingers_only_while_events_stream_in() {
        let linger = Duration::from_millis(20);
        let now = Instant::now();
        assert!(!streaming(None, now, linger), "the first event ever");
        let recent = now.checked_sub(Duration::from_millis(3)).expect("clock");
        assert!(streaming(Some(recent), now, linger), "300 events/s");
        let quiet = now.checked_sub(Duration::from_millis(50)).expect("clock");
        assert!(!streaming(Some(quiet), now, linger), "after a quiet spell");
        assert!(
            !streaming(Some(recent), now, Duration::ZERO),
            "no linger configured"
        );
    }
}
