//! The HTTP tier's path to the processors: produce a command, then wait for its result,
//! which the processors commit to the results topic in the same transaction as the events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_store::{KafkaConfig, TopicSet};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use schemas::{CommandEnvelope, CommandResult};
use tokio::sync::oneshot;
use uuid::Uuid;

/// Requests waiting for a result, by command id and fingerprint: concurrent retries of one
/// command all wait for (and get) the same answer; a reused key with another body waits
/// for its own.
type Waiters = Arc<Mutex<HashMap<(Uuid, String), Vec<oneshot::Sender<CommandResult>>>>>;

/// Sends commands and hands back their committed results.
#[derive(Clone)]
pub struct CommandBus {
    producer: FutureProducer,
    topic: String,
    waiters: Waiters,
    timeout: Duration,
    _listener: Arc<ListenerGuard>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The command may not have reached Kafka.
    #[error("kafka did not accept the command: {0}")]
    Unavailable(KafkaError),
    /// The command reached Kafka but no result came in time: the outcome is unknown.
    #[error("no result within {0:?}")]
    Timeout(Duration),
}

impl CommandBus {
    /// Starts listening to the results topic from its current end, then returns the bus.
    pub fn start(
        kafka: &KafkaConfig,
        topics: &TopicSet,
        partitions: i32,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let producer: FutureProducer = kafka
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            // The same partitioner as Java clients, so any producer agrees on key -> partition.
            .set("partitioner", "murmur2_random")
            .set("message.timeout.ms", timeout.as_millis().to_string())
            .create()?;
        let waiters: Waiters = Arc::default();
        let listener = start_listener(kafka, &topics.results, partitions, waiters.clone())?;
        Ok(Self {
            producer,
            topic: topics.commands.clone(),
            waiters,
            timeout,
            _listener: Arc::new(listener),
        })
    }

    /// Produces the command and waits for its committed result.
    pub async fn send(&self, command: &CommandEnvelope) -> Result<CommandResult, SendError> {
        let (sender, receiver) = oneshot::channel();
        let key = (command.command_id, command.fingerprint.clone());
        self.lock().entry(key.clone()).or_default().push(sender);
        let outcome = self.produce_and_wait(command, receiver).await;
        if outcome.is_err() {
            let mut waiters = self.lock();
            if let Some(list) = waiters.get_mut(&key) {
                list.retain(|sender| !sender.is_closed());
                if list.is_empty() {
                    waiters.remove(&key);
                }
            }
        }
        outcome
    }

    async fn produce_and_wait(
        &self,
        command: &CommandEnvelope,
        receiver: oneshot::Receiver<CommandResult>,
    ) -> Result<CommandResult, SendError> {
        let payload = serde_json::to_vec(command).unwrap_or_default();
        let key = command.order_id.to_string();
        self.producer
            .send(
                FutureRecord::to(&self.topic).key(&key).payload(&payload),
                self.timeout,
            )
            .await
            .map_err(|(error, _)| SendError::Unavailable(error))?;
        match tokio::time::timeout(self.timeout, receiver).await {
            Ok(Ok(result)) => Ok(result),
            _ => Err(SendError::Timeout(self.timeout)),
        }
    }

    /// Whether Kafka answers a metadata request for the commands topic.
    pub fn kafka_reachable(&self) -> bool {
        self.producer
            .client()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(2))
            .is_ok()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(Uuid, String), Vec<oneshot::Sender<CommandResult>>>>
    {
        self.waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct ListenerGuard {
    stop: Arc<AtomicBool>,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Assigns every results partition at its current end (so no result committed after this
/// returns can be missed) and dispatches results to their waiters on a dedicated thread.
fn start_listener(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
    waiters: Waiters,
) -> Result<ListenerGuard, KafkaError> {
    let consumer: BaseConsumer = kafka
        .read_committed_consumer("orderlog-command-api-results")
        .set("enable.partition.eof", "false")
        // An idle fetch waits this long at the broker, but the broker answers as soon as
        // records arrive, so a longer wait costs no latency and far fewer idle fetches.
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        let (_, high) =
            event_store::watermarks(&consumer, topic, partition, Duration::from_secs(10))?;
        assignment.add_partition_offset(topic, partition, Offset::Offset(high))?;
    }
    consumer.assign(&assignment)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    std::thread::Builder::new()
        .name("command-results".to_owned())
        .spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(message)) => {
                        let Some(result) = message
                            .payload()
                            .and_then(|p| serde_json::from_slice::<CommandResult>(p).ok())
                        else {
                            continue;
                        };
                        let key = (result.command_id, result.fingerprint.clone());
                        let waiting = waiters
                            .lock()
                            .ok()
                            .and_then(|mut w| w.remove(&key))
                            .unwrap_or_default();
                        for waiter in waiting {
                            let _ = waiter.send(result.clone());
                        }
                    }
                    Some(Err(error)) => tracing::warn!(%error, "results consumer error"),
                    None => {}
                }
            }
        })
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
    Ok(ListenerGuard { stop })
}
