//! The HTTP tier's path to the processors. When the processor owning the order's partition
//! runs in this process, the command is handed to its lane directly and answered once its
//! transaction has committed (`processor::Owners`). Otherwise: produce the command to the
//! commands topic, then wait for its result, which the processors commit to the results
//! topic in the same transaction as the events (and hand over in-process too when they run
//! here: [`crate::answers`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use schemas::{CommandEnvelope, CommandResult};
use tokio::sync::oneshot;

use crate::answers::{Answers, Path};
use crate::availability::Availability;
use crate::processor::Owners;

/// How long a command whose lane dropped it (the lane stopped, or its transaction failed)
/// waits before it is sent again.
const RESEND_PAUSE: Duration = Duration::from_millis(20);

/// The producer's context: librdkafka reports the brokers out of reach here.
struct BusContext {
    availability: Arc<Availability>,
    answers: Answers,
}

impl rdkafka::ClientContext for BusContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        event_store::statistics::record("command-intake", &statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            if self.availability.down(Instant::now()) {
                tracing::warn!(
                    reason,
                    "kafka out of reach; refusing commands until it answers"
                );
                // Their outcome is unknown and will stay so until Kafka is back: the
                // callers hear it now (503 outcome_unknown) rather than after the timeout.
                self.answers.clear();
            }
        } else {
            tracing::error!("librdkafka: {error}: {reason}");
        }
    }
}

/// Sends commands and hands back their committed results.
#[derive(Clone)]
pub struct CommandBus {
    producer: FutureProducer<BusContext>,
    availability: Arc<Availability>,
    /// Bounds the requests held waiting for results.
    in_flight: Arc<tokio::sync::Semaphore>,
    topic: String,
    answers: Answers,
    /// The lanes of this process's processors, when commands are handed to them directly.
    owners: Option<Owners>,
    partitions: i32,
    timeout: Duration,
    _listener: Arc<ListenerGuard>,
}

/// How the HTTP tier sends commands.
#[derive(Debug, Clone)]
pub struct BusSettings {
    /// The topics' partition count.
    pub partitions: i32,
    /// How long a request waits for its command's result.
    pub timeout: Duration,
    /// How long producing a command may take before the request answers 503.
    pub produce_timeout: Duration,
    /// Most requests waiting for results at once.
    pub max_in_flight: usize,
    /// The lanes of this process's processors, to hand commands to directly.
    pub owners: Option<Owners>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The command may not have reached Kafka.
    #[error("kafka did not accept the command: {0}")]
    Unavailable(KafkaError),
    /// The command reached Kafka but no result came in time: the outcome is unknown.
    #[error("no result within {0:?}")]
    Timeout(Duration),
    /// Too many commands wait for their results already; this one was not sent.
    #[error("too many commands in flight")]
    Overloaded,
}

impl CommandBus {
    /// Starts listening to the results topic from its current end, then returns the bus.
    /// `answers`: where results reach waiting requests (shared with this process's
    /// processors, when it runs them, so they can answer right after their commit).
    pub fn start(
        answers: Answers,
        kafka: &KafkaConfig,
        topics: &TopicSet,
        settings: BusSettings,
    ) -> Result<Self, KafkaError> {
        let BusSettings {
            partitions,
            timeout,
            produce_timeout,
            max_in_flight,
            owners,
        } = settings;
        let availability = Arc::new(Availability::default());
        let producer: FutureProducer<BusContext> = kafka
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            // The same partitioner as Java clients, so any producer agrees on key -> partition.
            .set("partitioner", "murmur2_random")
            // A command not acknowledged this soon gets 503 kafka_unavailable (the caller
            // retries with its key) rather than holding the request for the whole timeout.
            .set(
                "message.timeout.ms",
                produce_timeout.as_millis().to_string(),
            )
            .set(
                "statistics.interval.ms",
                event_store::statistics::INTERVAL_MS,
            )
            .create_with_context(BusContext {
                availability: availability.clone(),
                answers: answers.clone(),
            })?;
        let listener = start_listener_patiently(kafka, &topics.results, partitions, &answers)?;
        watch_availability(
            kafka,
            &topics.commands,
            availability.clone(),
            listener.stop.clone(),
        )?;
        Ok(Self {
            producer,
            availability,
            in_flight: Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1))),
            topic: topics.commands.clone(),
            answers,
            owners,
            partitions,
            timeout,
            _listener: Arc::new(listener),
        })
    }

    /// Sends the command, directly to its lane when one here serves its partition, else
    /// through the commands topic, and waits for its committed result.
    pub async fn send(&self, command: &CommandEnvelope) -> Result<CommandResult, SendError> {
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            metrics::counter!("orderlog_http_commands_shed_total").increment(1);
            return Err(SendError::Overloaded);
        };
        if !self.availability.is_up() {
            return Err(SendError::Unavailable(KafkaError::MessageProduction(
                RDKafkaErrorCode::AllBrokersDown,
            )));
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        if let Some(owners) = &self.owners
            && let Some(answered) = self.send_direct(owners, command, deadline).await
        {
            return answered;
        }
        let receiver = self.answers.wait(command.command_id, &command.fingerprint);
        let outcome = self.produce_and_wait(command, receiver, deadline).await;
        if outcome.is_err() {
            self.answers
                .forget_gone(command.command_id, &command.fingerprint);
        }
        outcome
    }

    /// Hands the command to the lane serving its partition here and waits for its commit.
    /// A command its lane dropped undecided is handed over again: the same envelope, so
    /// if its transaction did commit after all, the order's idempotency memory answers.
    /// `None` when no lane here serves the partition (any more): it goes through the topic.
    async fn send_direct(
        &self,
        owners: &Owners,
        command: &CommandEnvelope,
        deadline: tokio::time::Instant,
    ) -> Option<Result<CommandResult, SendError>> {
        let partition = event_store::partitioner::partition_of(
            command.order_id.to_string().as_bytes(),
            self.partitions,
        );
        let started = Instant::now();
        loop {
            let receiver = owners.submit(partition, command.clone())?;
            match tokio::time::timeout_at(deadline, receiver).await {
                Ok(Ok(result)) => {
                    crate::stages::record("direct", started.elapsed().as_secs_f64());
                    metrics::counter!("orderlog_command_results_answered_total", "path" => Path::Direct.label()).increment(1);
                    return Some(Ok(result));
                }
                Ok(Err(_)) => {
                    metrics::counter!("orderlog_commands_resent_total").increment(1);
                    tokio::time::sleep(RESEND_PAUSE).await;
                }
                Err(_) => return Some(Err(SendError::Timeout(self.timeout))),
            }
        }
    }

    async fn produce_and_wait(
        &self,
        command: &CommandEnvelope,
        receiver: oneshot::Receiver<CommandResult>,
        deadline: tokio::time::Instant,
    ) -> Result<CommandResult, SendError> {
        let payload = serde_json::to_vec(command).unwrap_or_default();
        let key = command.order_id.to_string();
        let started = Instant::now();
        let produced = self
            .producer
            .send(
                FutureRecord::to(&self.topic).key(&key).payload(&payload),
                self.timeout,
            )
            .await;
        crate::stages::record("produce", started.elapsed().as_secs_f64());
        match produced {
            Ok(_) => self.availability.up(),
            Err((error, _)) => {
                self.availability.down(Instant::now());
                return Err(SendError::Unavailable(error));
            }
        }
        let acknowledged = Instant::now();
        match tokio::time::timeout_at(deadline, receiver).await {
            Ok(Ok(result)) => {
                crate::stages::record("await_result", acknowledged.elapsed().as_secs_f64());
                Ok(result)
            }
            _ => Err(SendError::Timeout(self.timeout)),
        }
    }

    /// Whether commands are being taken (Kafka was not found out of reach).
    pub fn taking_commands(&self) -> bool {
        self.availability.is_up()
    }

    /// Whether Kafka answers a metadata request for the commands topic.
    pub fn kafka_reachable(&self) -> bool {
        self.producer
            .client()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(2))
            .is_ok()
    }
}

/// While commands are refused, asks the brokers for the commands topic's metadata twice
/// a second and takes commands again once they answer.
fn watch_availability(
    kafka: &KafkaConfig,
    topic: &str,
    availability: Arc<Availability>,
    stop: Arc<AtomicBool>,
) -> Result<(), KafkaError> {
    let client: BaseConsumer = kafka.client().set("log_level", "3").create()?;
    let topic = topic.to_owned();
    std::thread::Builder::new()
        .name("kafka-availability".to_owned())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(500));
                if !availability.is_up()
                    && client
                        .fetch_metadata(Some(&topic), Duration::from_secs(1))
                        .is_ok()
                {
                    availability.up();
                }
            }
        })
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
    Ok(())
}

struct ListenerGuard {
    stop: Arc<AtomicBool>,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// [`start_listener`], waiting out a cluster that does not answer yet (seen in `make chaos`:
/// a node of a cluster just started refused connections while its old registration
/// expired, and the process exited); any other error is returned.
fn start_listener_patiently(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
    answers: &Answers,
) -> Result<ListenerGuard, KafkaError> {
    let mut backoff = event_store::Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        match start_listener(kafka, topic, partitions, answers.clone()) {
            Err(error) if event_store::reader::is_transient(&error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "the results topic cannot be read yet; retrying");
                std::thread::sleep(delay);
            }
            other => return other,
        }
    }
}

/// Assigns every results partition at its current end (so no result committed after this
/// returns can be missed) and dispatches results to their waiters on a dedicated thread.
///
/// Results are input too: one that is too large, does not parse, or arrived on a partition
/// its order does not live in (no processor writes it there) answers nobody.
fn start_listener(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
    answers: Answers,
) -> Result<ListenerGuard, KafkaError> {
    let consumer: BaseConsumer = kafka
        .read_committed_consumer("orderlog-command-api-results")
        .set("enable.partition.eof", "false")
        // An idle fetch waits this long at the broker, but the broker answers as soon as
        // records arrive, so a longer wait costs no latency and far fewer idle fetches.
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let wanted: Vec<(&str, i32)> = (0..partitions).map(|p| (topic, p)).collect();
    event_store::assign_at_end(&consumer, &wanted, Duration::from_secs(10))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    std::thread::Builder::new()
        .name("command-results".to_owned())
        .spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(message)) => {
                        crate::stages::since("result_to_listener", message.timestamp());
                        let result = match trusted_result(
                            message.payload().unwrap_or_default(),
                            message.partition(),
                            partitions,
                        ) {
                            Ok(result) => result,
                            Err(reason) => {
                                metrics::counter!("orderlog_command_results_untrusted_total", "reason" => reason).increment(1);
                                continue;
                            }
                        };
                        answers.answer(&result, Path::ResultsTopic);
                    }
                    Some(Err(error)) => tracing::warn!(%error, "results consumer error"),
                    None => {}
                }
            }
        })
        .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
    Ok(ListenerGuard { stop })
}

/// The largest result record read; a processor's are a few hundred bytes.
const MAX_RESULT_BYTES: usize = 64 * 1024;

/// A result record that may answer a waiting request, or why it may not.
fn trusted_result(
    payload: &[u8],
    partition: i32,
    partitions: i32,
) -> Result<CommandResult, &'static str> {
    if payload.len() > MAX_RESULT_BYTES {
        return Err("too_large");
    }
    let result: CommandResult = serde_json::from_slice(payload).map_err(|_| "unreadable")?;
    let home =
        event_store::partitioner::partition_of(result.order_id.to_string().as_bytes(), partitions);
    if home != partition {
        return Err("wrong_partition");
    }
    Ok(result)
}

#[cfg(test)]
mod result_tests {
    use super::*;
    use schemas::CommandOutcome;
    use schemas::values::OrderId;

    fn result_for(order_id: OrderId) -> Vec<u8> {
        serde_json::to_vec(&CommandResult {
            command_id: uuid::Uuid::now_v7(),
            order_id,
            fingerprint: "f".into(),
            processed_at: chrono::Utc::now(),
            outcome: CommandOutcome::IdempotencyKeyReused,
        })
        .expect("json")
    }

    #[test]
    fn only_a_readable_result_on_its_orders_partition_answers() {
        let order = OrderId::generate();
        let home = event_store::partitioner::partition_of(order.to_string().as_bytes(), 6);
        let payload = result_for(order);
        assert!(trusted_result(&payload, home, 6).is_ok());
        assert_eq!(
            trusted_result(&payload, (home + 1) % 6, 6).err(),
            Some("wrong_partition")
        );
        assert_eq!(trusted_result(b"{", home, 6).err(), Some("unreadable"));
        assert_eq!(
            trusted_result(&vec![b' '; MAX_RESULT_BYTES + 1], home, 6).err(),
            Some("too_large")
        );
    }
}
