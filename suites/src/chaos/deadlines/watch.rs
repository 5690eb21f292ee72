//! A reader tailing the events topic as a plain read_committed consumer would, from the
//! start of the run: when each expiry became visible, which bounds when it was committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;
use schemas::Event;

use crate::chaos::check::every_partition;

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
        let mut config = ClientConfig::new();
        config
            .set("group.id", "chaos-deadline-watch")
            .set("fetch.wait.max.ms", "10");
        let (consumer, _) = every_partition(bootstrap, topic, config)?;
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
