//! A transactional producer that waits for its records' acknowledgements without polling:
//! a background thread serves the delivery reports and a condition variable wakes the
//! writer (rdkafka's polling waits spin a core; docs/performance.md, "Waiting for
//! acknowledgements").

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

/// Counts records handed to librdkafka and delivery reports received, and remembers the
/// last offset acknowledged on each partition.
#[derive(Default)]
pub struct DeliveryCounter {
    counts: Mutex<Counts>,
    arrived: Condvar,
}

#[derive(Default)]
struct Counts {
    sent: u64,
    reported: u64,
    /// The lowest and highest offsets acknowledged per topic and partition since the last
    /// [`TransactionalProducer::take_delivered`].
    delivered: HashMap<(String, i32), (i64, i64)>,
}

impl ClientContext for DeliveryCounter {
    /// Reports arrive only from producers configured with `statistics.interval.ms`: the
    /// processor's, whose statistics are labelled `command-transactions`.
    fn stats(&self, statistics: rdkafka::Statistics) {
        crate::statistics::record("command-transactions", &statistics);
    }
}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if result.is_err() {
            metrics::counter!("orderlog_kafka_delivery_failures_total").increment(1);
        }
        if let Ok(mut counts) = self.counts.lock() {
            if let Ok(message) = result {
                let offset = message.offset();
                let range = counts
                    .delivered
                    .entry((message.topic().to_owned(), message.partition()))
                    .or_insert((offset, offset));
                *range = (range.0.min(offset), range.1.max(offset));
            }
            counts.reported += 1;
            if counts.reported >= counts.sent {
                self.arrived.notify_all();
            }
        }
    }
}

type Inner = BaseProducer<DeliveryCounter>;

/// Where records of a transaction landed on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub topic: String,
    pub partition: i32,
    /// The offset of its first record there.
    pub first: i64,
    /// The offset of its last record there.
    pub last: i64,
}

/// A producer for transactions: rdkafka's transactional calls through `Deref`, plus
/// [`send`](Self::send) and [`wait_delivered`](Self::wait_delivered).
pub struct TransactionalProducer {
    inner: Arc<Inner>,
    stop: Arc<AtomicBool>,
    reports: Option<std::thread::JoinHandle<()>>,
}

impl TransactionalProducer {
    /// Creates the producer from a configuration with a `transactional.id`
    /// ([`KafkaConfig::transactional_producer`](crate::KafkaConfig::transactional_producer)).
    pub fn create(config: &ClientConfig) -> KafkaResult<Self> {
        let inner = Arc::new(Inner::from_config_and_context(
            config,
            DeliveryCounter::default(),
        )?);
        let stop = Arc::new(AtomicBool::new(false));
        let reports = std::thread::Builder::new()
            .name("producer-reports".to_owned())
            .spawn({
                let (inner, stop) = (inner.clone(), stop.clone());
                move || {
                    while !stop.load(Ordering::SeqCst) {
                        inner.poll(Duration::from_secs(1));
                    }
                }
            })
            .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
        Ok(Self {
            inner,
            stop,
            reports: Some(reports),
        })
    }

    /// Queues a record; when librdkafka's queue is full, waits for it to drain and retries.
    pub fn send(&self, mut record: BaseRecord<'_, [u8], [u8]>) -> KafkaResult<()> {
        let context = self.inner.context();
        loop {
            if let Ok(mut counts) = context.counts.lock() {
                counts.sent += 1;
            }
            match self.inner.send(record) {
                Ok(()) => return Ok(()),
                Err((error, back)) => {
                    if let Ok(mut counts) = context.counts.lock() {
                        counts.sent -= 1;
                    }
                    if error != KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) {
                        return Err(error);
                    }
                    // The polling thread serves delivery reports meanwhile.
                    std::thread::sleep(Duration::from_millis(1));
                    record = back;
                }
            }
        }
    }

    /// Blocks until every record sent so far has its delivery report (acknowledged or
    /// failed; a failed one makes the transaction's commit fail), or the timeout passes.
    pub fn wait_delivered(&self, timeout: Duration) -> KafkaResult<()> {
        let deadline = Instant::now() + timeout;
        let timed_out = || KafkaError::Flush(RDKafkaErrorCode::MessageTimedOut);
        let context = self.inner.context();
        let mut counts = context.counts.lock().map_err(|_| timed_out())?;
        while counts.reported < counts.sent {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            counts = context
                .arrived
                .wait_timeout(counts, left)
                .map_err(|_| timed_out())?
                .0;
        }
        drop(counts);
        // The report's event is released just after the callback; until then librdkafka
        // still counts the record, and a commit would flush in 100 ms polls.
        while self.inner.in_flight_count() > 0 {
            if Instant::now() > deadline {
                return Err(timed_out());
            }
            std::thread::yield_now();
        }
        Ok(())
    }
}

impl TransactionalProducer {
    /// The first and last offsets acknowledged on each topic and partition since the
    /// previous call (after [`wait_delivered`](Self::wait_delivered): the transaction's
    /// records).
    pub fn take_delivered(&self) -> Vec<Delivered> {
        self.inner
            .context()
            .counts
            .lock()
            .map(|mut counts| {
                counts
                    .delivered
                    .drain()
                    .map(|((topic, partition), (first, last))| Delivered {
                        topic,
                        partition,
                        first,
                        last,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for TransactionalProducer {
    /// Waits (up to a second) for the reports thread, so the client is gone when this
    /// returns: a writer that replaces this one must not race requests it still retries.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(reports) = self.reports.take() {
            let _ = reports.join();
        }
    }
}

impl Deref for TransactionalProducer {
    type Target = Inner;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}
