//! The end of each assigned partition, for the lag, as a background thread with a client
//! of its own finds it once a second. Never asked on the poll thread: a broker answers one
//! connection's requests in order, so a ListOffsets request on the consumer's connection
//! queued behind its waiting fetch (`fetch.wait.max.ms`, 100 ms), once per partition.
//! Until session 11 an event arriving on an idle platform often waited 100 to 700 ms there
//! before its batch was handed over (freshness p50 112 ms, p90 694 ms, `bench freshness`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_store::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::assign::StartAtStoredOffsets;
use crate::offsets;

const EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Known {
    /// The partitions to look at: those assigned when the poll thread last asked.
    wanted: Vec<i32>,
    highs: HashMap<i32, i64>,
}

pub(super) struct Watermarks {
    known: Arc<Mutex<Known>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    idle_observed: Option<Instant>,
}

impl Watermarks {
    /// Starts the watcher of `topic`'s ends; a client that cannot be made leaves the ends
    /// unknown (the lag observer, `crate::lag`, still records them).
    pub(super) fn start(kafka: &KafkaConfig, topic: &str) -> Self {
        let known = Arc::new(Mutex::new(Known::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = match kafka.client().create::<BaseConsumer>() {
            Ok(client) => {
                let (known, stop, topic) = (known.clone(), stop.clone(), topic.to_owned());
                std::thread::Builder::new()
                    .name("projection-ends".to_owned())
                    .spawn(move || watch(&client, &topic, &known, &stop))
                    .ok()
            }
            Err(error) => {
                tracing::warn!(%error, "no client to watch the log's ends; lag from the observer only");
                None
            }
        };
        Self {
            known,
            stop,
            thread,
            idle_observed: None,
        }
    }

    /// The last known end of each of `partitions` (which the watcher looks at from now on).
    pub(super) fn refresh(&mut self, partitions: &[i32]) -> HashMap<i32, i64> {
        let Ok(mut known) = self.known.lock() else {
            return HashMap::new();
        };
        if known.wanted != partitions {
            known.wanted = partitions.to_vec();
        }
        partitions
            .iter()
            .filter_map(|p| known.highs.get(p).map(|high| (*p, *high)))
            .collect()
    }

    /// While idle, once a second: each assigned partition's consumer position and end.
    pub(super) fn idle_ends(
        &mut self,
        consumer: &BaseConsumer<StartAtStoredOffsets>,
        topic: &str,
        partitions: &[i32],
    ) -> Option<Vec<offsets::LogEnd>> {
        if self.idle_observed.is_some_and(|at| at.elapsed() < EVERY) || partitions.is_empty() {
            return None;
        }
        self.idle_observed = Some(Instant::now());
        let highs = self.refresh(partitions);
        // The consumer's own position: no request to the broker.
        let positions = consumer.position().ok()?;
        let ends = partitions
            .iter()
            .filter_map(|partition| {
                let position = positions
                    .find_partition(topic, *partition)?
                    .offset()
                    .to_raw()?;
                let high_watermark = *highs.get(partition)?;
                (position >= 0).then_some(offsets::LogEnd {
                    partition: *partition,
                    position,
                    high_watermark,
                })
            })
            .collect();
        Some(ends)
    }
}

impl Drop for Watermarks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Once a second, the end of every wanted partition, from a connection of its own.
fn watch(client: &BaseConsumer, topic: &str, known: &Mutex<Known>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let wanted = known.lock().map(|k| k.wanted.clone()).unwrap_or_default();
        for partition in wanted {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            if let Ok((_, high)) = client.fetch_watermarks(topic, partition, Duration::from_secs(2))
                && let Ok(mut known) = known.lock()
            {
                known.highs.insert(partition, high);
            }
        }
        let slept = Instant::now();
        while slept.elapsed() < EVERY && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
