//! A reader tailing the events topic as a plain read_committed consumer would, from the
//! start of the run: when each expiry became visible, which bounds when it was committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use schemas::Event;

/// One expiry as the watcher saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) order_id: String,
    pub(crate) payment_due_at: DateTime<Utc>,
    pub(crate) visible_at: DateTime<Utc>,
}

/// The watcher's thread and what it has seen so far.
pub(crate) struct Watch {
    stop: Arc<AtomicBool>,
    seen: Arc<std::sync::Mutex<Vec<Seen>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    /// Starts tailing `topic` (every partition, from the beginning).
    pub(crate) fn start(bootstrap: &str, topic: &str) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "chaos-deadline-watch")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
        let partitions = metadata
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len());
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions as i32 {
            assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (stop.clone(), seen.clone());
            std::thread::spawn(move || tail(&consumer, &stop, &seen))
        };
        Ok(Self {
            stop,
            seen,
            thread: Some(thread),
        })
    }

    /// Stops the watcher; every expiry it saw.
    pub(crate) fn finish(mut self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }
}

fn tail(consumer: &BaseConsumer, stop: &AtomicBool, seen: &std::sync::Mutex<Vec<Seen>>) {
    while !stop.load(Ordering::SeqCst) {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let visible_at = Utc::now();
        // Records that are not events (the nemesis's poison) are passed.
        let Ok(envelope) = event_store::wire::decode_event(&message) else {
            continue;
        };
        if let Event::OrderExpired(expired) = envelope.event
            && let Ok(mut seen) = seen.lock()
        {
            seen.push(Seen {
                order_id: envelope.order_id.to_string(),
                payment_due_at: expired.payment_due_at,
                visible_at,
            });
        }
    }
}
