//! One projection's worker: a consumer group member on the events topic, on a dedicated
//! thread with a polled consumer. On assignment it starts each partition at the offset
//! stored in PostgreSQL (inside the rebalance callback); each batch is applied, with the
//! new offsets and a change notification, in one database transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, wire};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use schemas::EventEnvelope;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::runtime::Handle;

use crate::dead_letters::DeadLetters;
use crate::offsets::{self, Position};
use crate::projections::{ApplyError, Poison, Projection};

/// The channel projectors notify on after each commit (see docs/read-models.md).
pub const NOTIFY_CHANNEL: &str = "orderlog_changes";

/// What to do with an event a projection cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoisonPolicy {
    /// Write it to the dead-letter topic with the error, and go on.
    DeadLetter,
    /// Stop the projection (its lag grows until someone looks).
    Halt,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub events_topic: String,
    pub dead_letter_topic: String,
    pub group_prefix: String,
    pub batch_max: usize,
    pub linger: Duration,
    pub on_poison: PoisonPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("halted on a poison event: {0}")]
    Halted(Poison),
    #[error("the worker thread panicked")]
    Panicked,
    #[error(
        "partition {partition} offset {offset} could not be read back for the dead-letter topic"
    )]
    NotReadBack { partition: i32, offset: i64 },
    #[error("starting a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Lag and health of one projection, for `/readyz` and `/metrics`.
#[derive(Debug, Default)]
pub struct WorkerStatus {
    pub assigned: Mutex<Vec<i32>>,
    pub failed: AtomicBool,
    /// Set by the applier when the stored offsets moved backwards (a rebuild switched
    /// tables, or someone reset them): the consumer seeks back to them.
    resync: AtomicBool,
    /// Bumped by the consumer after each resync; batches polled before are dropped.
    epoch: std::sync::atomic::AtomicU64,
}

pub struct Worker {
    projection: Projection,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), WorkerError>>>,
    pub status: Arc<WorkerStatus>,
}

impl Worker {
    pub fn spawn(
        projection: Projection,
        kafka: KafkaConfig,
        pool: PgPool,
        runtime: Handle,
        settings: WorkerSettings,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(WorkerStatus::default());
        let thread = std::thread::Builder::new().name(format!("projection-{}", projection.name())).spawn({
            let (stop, status) = (stop.clone(), status.clone());
            move || {
                let result = run(projection, &kafka, &pool, &runtime, &settings, &stop, &status);
                if let Err(error) = &result {
                    status.failed.store(true, Ordering::SeqCst);
                    tracing::error!(projection = projection.name(), %error, "projection stopped");
                }
                result
            }
        })?;
        Ok(Self {
            projection,
            stop,
            thread: Some(thread),
            status,
        })
    }

    pub fn projection(&self) -> Projection {
        self.projection
    }

    /// Finishes the batch in flight (committed or not at all) and leaves the group.
    pub fn stop(mut self) -> Result<(), WorkerError> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .map_or(Ok(()), |t| t.join().unwrap_or(Err(WorkerError::Panicked)))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Assigns partitions at the offsets PostgreSQL holds: Kafka's own committed offsets are
/// never the truth for a projection.
struct StartAtStoredOffsets {
    projection: Projection,
    topic: String,
    pool: PgPool,
    runtime: Handle,
    status: Arc<WorkerStatus>,
}

impl ClientContext for StartAtStoredOffsets {}

impl ConsumerContext for StartAtStoredOffsets {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        if err != RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            let _ = consumer.unassign();
            self.set_assigned(vec![]);
            return;
        }
        let stored = match self.runtime.block_on(offsets::load(
            &self.pool,
            self.projection.name(),
            &self.topic,
        )) {
            Ok(stored) => stored,
            Err(error) => {
                // Without the stored offsets nothing can be applied safely: take nothing.
                tracing::error!(projection = self.projection.name(), %error, "cannot read stored offsets");
                self.status.failed.store(true, Ordering::SeqCst);
                let _ = consumer.unassign();
                return;
            }
        };
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        for partition in &partitions {
            let offset = stored
                .get(partition)
                .map_or(Offset::Beginning, |o| Offset::Offset(*o));
            let _ = tpl.set_partition_offset(&self.topic, *partition, offset);
        }
        tracing::info!(
            projection = self.projection.name(),
            ?partitions,
            "partitions assigned at stored offsets"
        );
        if let Err(error) = consumer.assign(tpl) {
            tracing::error!(%error, "assign failed");
        }
        self.set_assigned(partitions);
    }
}

impl StartAtStoredOffsets {
    fn set_assigned(&self, partitions: Vec<i32>) {
        if let Ok(mut assigned) = self.status.assigned.lock() {
            *assigned = partitions;
        }
    }
}

/// An event read from the log, a record that could not be read as one, or one that was
/// dead-lettered (its offset still counts; it is not applied).
// Nearly every record is an Event; boxing it would allocate once per event for nothing.
#[allow(clippy::large_enum_variant)]
enum Read {
    Event(EventEnvelope),
    Unreadable(String),
    Skipped,
}

/// What the poll thread hands the applier.
enum Work {
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
struct Record {
    partition: i32,
    offset: i64,
    read: Read,
}

fn run(
    projection: Projection,
    kafka: &KafkaConfig,
    pool: &PgPool,
    runtime: &Handle,
    settings: &WorkerSettings,
    stop: &AtomicBool,
    status: &Arc<WorkerStatus>,
) -> Result<(), WorkerError> {
    let context = StartAtStoredOffsets {
        projection,
        topic: settings.events_topic.clone(),
        pool: pool.clone(),
        runtime: runtime.clone(),
        status: status.clone(),
    };
    let consumer: BaseConsumer<StartAtStoredOffsets> = kafka
        .read_committed_consumer(&format!(
            "{}projection-{}",
            settings.group_prefix,
            projection.name()
        ))
        .set("enable.partition.eof", "false")
        // An idle fetch waits this long at the broker, but the broker answers as soon as
        // records arrive, so a longer wait costs no latency and far fewer idle fetches.
        .set("fetch.wait.max.ms", "100")
        // A worker catching up holds a full fetch queue; past its limits librdkafka waits
        // this long before fetching again (a second by default, in which a worker applying
        // 100,000 events/s empties the queue and then waits).
        .set("fetch.queue.backoff.ms", "10")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "2000")
        .create_with_context(context)?;
    consumer.subscribe(&[&settings.events_topic])?;
    // Decoding the next batch overlaps with applying the previous one. That is safe even
    // across rebalances: each transaction locks the stored offsets and skips what they say
    // is applied already.
    let (batches, receiver) = std::sync::mpsc::sync_channel::<Work>(2);
    let applier = std::thread::Builder::new()
        .name(format!("apply-{}", projection.name()))
        .spawn({
            let (kafka, pool, runtime, settings, status) = (
                kafka.clone(),
                pool.clone(),
                runtime.clone(),
                settings.clone(),
                status.clone(),
            );
            move || -> Result<(), WorkerError> {
                let dead_letters = DeadLetters::new(projection, kafka, &settings)?;
                let mut applier = Applier {
                    projection,
                    pool,
                    runtime,
                    local: tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?,
                    connection: None,
                    settings,
                    dead_letters,
                    last_stored: HashMap::new(),
                    garbage: garbage_thread(projection)?,
                };
                let mut min_epoch = 0;
                for work in receiver {
                    let (epoch, batch, highs) = match work {
                        Work::Batch {
                            epoch,
                            batch,
                            highs,
                        } => (epoch, batch, highs),
                        Work::Idle(ends) => {
                            if applier.observe_idle(&ends) == Applied::Rewound {
                                min_epoch = status.epoch.load(Ordering::SeqCst) + 1;
                                status.resync.store(true, Ordering::SeqCst);
                            }
                            continue;
                        }
                    };
                    if epoch < min_epoch {
                        continue;
                    }
                    if applier.apply(batch, &highs)? == Applied::Rewound {
                        min_epoch = status.epoch.load(Ordering::SeqCst) + 1;
                        status.resync.store(true, Ordering::SeqCst);
                    }
                }
                Ok(())
            }
        })?;
    let mut watermarks = Watermarks::default();
    while !stop.load(Ordering::SeqCst) && !applier.is_finished() {
        if status.resync.swap(false, Ordering::SeqCst) {
            resync(
                &consumer,
                projection,
                pool,
                runtime,
                &settings.events_topic,
                status,
            )?;
        }
        let epoch = status.epoch.load(Ordering::SeqCst);
        let batch = poll_batch(&consumer, settings);
        let assigned = status
            .assigned
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        let work = if batch.is_empty() {
            // Idle: where the consumer stands may be past the last stored offset by the
            // transaction markers Kafka writes after each commit; record that, so the lag
            // reads 0 when everything is applied.
            match watermarks.idle_ends(&consumer, &settings.events_topic, &assigned) {
                Some(ends) => Work::Idle(ends),
                None => continue,
            }
        } else {
            let batch: Vec<Record> = batch
                .into_iter()
                .filter(|r| assigned.contains(&r.partition))
                .collect();
            let highs = watermarks.refresh(&consumer, &settings.events_topic, &assigned);
            Work::Batch {
                epoch,
                batch,
                highs,
            }
        };
        if batches.send(work).is_err() {
            break;
        }
    }
    drop(batches);
    applier.join().unwrap_or(Err(WorkerError::Panicked))?;
    tracing::info!(
        projection = projection.name(),
        "projection stopping; leaving the group"
    );
    consumer.unsubscribe();
    Ok(())
}

/// Seeks every assigned partition to its stored offset and starts a new epoch.
fn resync(
    consumer: &BaseConsumer<StartAtStoredOffsets>,
    projection: Projection,
    pool: &PgPool,
    runtime: &Handle,
    topic: &str,
    status: &WorkerStatus,
) -> Result<(), WorkerError> {
    let stored = runtime.block_on(offsets::load(pool, projection.name(), topic))?;
    let assigned = status
        .assigned
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    for partition in assigned {
        let offset = stored
            .get(&partition)
            .map_or(Offset::Beginning, |o| Offset::Offset(*o));
        consumer.seek(topic, partition, offset, Duration::from_secs(10))?;
    }
    status.epoch.fetch_add(1, Ordering::SeqCst);
    tracing::warn!(
        projection = projection.name(),
        "stored offsets moved back; re-reading from them"
    );
    Ok(())
}

/// Takes the records that have arrived, up to `batch_max`. Once the batch holds one, it
/// waits at most `linger` in all for more to arrive; records already fetched are taken
/// without waiting, so a worker catching up fills whole batches however long decoding
/// them takes.
fn poll_batch(
    consumer: &BaseConsumer<StartAtStoredOffsets>,
    settings: &WorkerSettings,
) -> Vec<Record> {
    let mut batch = Vec::new();
    let mut waited = Duration::ZERO;
    let mut timeout = Duration::from_millis(100);
    while batch.len() < settings.batch_max {
        let started = Instant::now();
        let polled = consumer.poll(timeout);
        if !batch.is_empty() && !timeout.is_zero() {
            waited += started.elapsed();
        }
        match polled {
            Some(Ok(message)) => {
                batch.push(record(&message));
                timeout = Duration::ZERO;
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "consumer error");
                break;
            }
            None if batch.is_empty() => return batch,
            None if waited >= settings.linger => break,
            None => timeout = (settings.linger - waited).min(Duration::from_millis(5)),
        }
    }
    batch
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

#[derive(Debug, PartialEq, Eq)]
enum Applied {
    Done,
    /// The stored offsets were behind what this worker last stored: nothing was applied.
    Rewound,
}

/// The applying half of a worker, on its own thread.
struct Applier {
    projection: Projection,
    pool: PgPool,
    runtime: Handle,
    /// Batches run on this thread's own runtime and connection: the connection's replies
    /// wake this thread directly, not through one of the shared runtime's workers first
    /// (a batch makes a dozen round trips).
    local: tokio::runtime::Runtime,
    connection: Option<PgConnection>,
    settings: WorkerSettings,
    dead_letters: DeadLetters,
    /// What this worker last stored per partition, to notice offsets moving backwards.
    last_stored: HashMap<i32, i64>,
    /// Applied batches go here to be freed on another thread: dropping thousands of
    /// decoded events is allocator work the next database round trip need not wait for.
    garbage: std::sync::mpsc::Sender<Vec<Record>>,
}

fn garbage_thread(projection: Projection) -> std::io::Result<std::sync::mpsc::Sender<Vec<Record>>> {
    let (garbage, bin) = std::sync::mpsc::channel::<Vec<Record>>();
    std::thread::Builder::new()
        .name(format!("free-{}", projection.name()))
        .spawn(move || bin.into_iter().for_each(drop))?;
    Ok(garbage)
}

impl Applier {
    /// Records how far the consumer stands and the log's end while nothing is arriving.
    ///
    /// Also notices stored offsets set back while nothing arrives (a rebuild switched
    /// tables): `Rewound` asks the consumer to seek back to them.
    fn observe_idle(&mut self, ends: &[offsets::LogEnd]) -> Applied {
        let name = self.projection.name();
        let topic = &self.settings.events_topic;
        // Only the lag view depends on this; a failure waits for the next idle second.
        let observed = self.runtime.block_on(async {
            offsets::observe(&self.pool, name, topic, ends).await?;
            offsets::load(&self.pool, name, topic).await
        });
        let stored = match observed {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(projection = name, %error, "recording the idle position failed");
                return Applied::Done;
            }
        };
        for end in ends {
            metrics::gauge!("orderlog_projection_lag", "projection" => name, "partition" => end.partition.to_string())
                .set((end.high_watermark - end.position).max(0) as f64);
        }
        let set_back = offsets::set_back(&self.last_stored, &stored);
        if set_back.is_empty() {
            return Applied::Done;
        }
        self.last_stored.extend(set_back);
        Applied::Rewound
    }

    fn apply(
        &mut self,
        mut batch: Vec<Record>,
        highs: &HashMap<i32, i64>,
    ) -> Result<Applied, WorkerError> {
        let outcome = self.apply_with_poison(&mut batch, highs)?;
        // Freed elsewhere; if that thread is gone, it is freed here.
        if let Err(returned) = self.garbage.send(batch) {
            drop(returned.0);
        }
        let applied = match outcome {
            BatchOutcome::Stored(positions) => {
                for (partition, next_offset) in &positions {
                    if let Some(high) = highs.get(partition) {
                        let name = self.projection.name();
                        metrics::gauge!("orderlog_projection_lag", "projection" => name, "partition" => partition.to_string())
                            .set((high - next_offset).max(0) as f64);
                    }
                }
                self.last_stored.extend(positions);
                Applied::Done
            }
            BatchOutcome::Rewound(stored) => {
                self.last_stored.extend(stored);
                Applied::Rewound
            }
        };
        Ok(applied)
    }

    /// Applies the batch; an event the projection refuses is set aside (dead-lettered or
    /// halting, by policy) and the rest of the batch applied without it.
    fn apply_with_poison(
        &mut self,
        batch: &mut [Record],
        highs: &HashMap<i32, i64>,
    ) -> Result<BatchOutcome, WorkerError> {
        for record in batch.iter_mut() {
            if let Read::Unreadable(reason) = &record.read {
                let reason = format!("unreadable event: {reason}");
                self.dead_letters
                    .set_aside(record.partition, record.offset, &reason)?;
                record.read = Read::Skipped;
            }
        }
        let mut failures = 0;
        loop {
            let connection = &mut self.connection;
            let (pool, topic) = (&self.pool, &self.settings.events_topic);
            let applied = self.local.block_on(async {
                let connection = match connection {
                    Some(connection) => connection,
                    None => connection.insert(pool.connect_options().connect().await?),
                };
                apply_batch(
                    self.projection,
                    connection,
                    topic,
                    batch,
                    highs,
                    &self.last_stored,
                )
                .await
            });
            match applied {
                Ok(outcome) => {
                    if let BatchOutcome::Stored(_) = &outcome {
                        let events = batch
                            .iter()
                            .filter(|r| matches!(r.read, Read::Event(_)))
                            .count();
                        metrics::counter!("orderlog_projection_events_total", "projection" => self.projection.name())
                            .increment(events as u64);
                    }
                    return Ok(outcome);
                }
                Err(ApplyError::Poison(poison)) => {
                    let record = batch
                        .iter_mut()
                        .find(
                            |r| matches!(&r.read, Read::Event(e) if e.event_id == poison.event_id),
                        )
                        .ok_or_else(|| WorkerError::Halted(poison.clone()))?;
                    self.dead_letters.set_aside(
                        record.partition,
                        record.offset,
                        &poison.to_string(),
                    )?;
                    record.read = Read::Skipped;
                }
                Err(ApplyError::Database(error)) => {
                    // The next attempt starts on a fresh connection.
                    self.connection = None;
                    failures += 1;
                    if failures > 5 {
                        return Err(WorkerError::Database(error));
                    }
                    tracing::warn!(projection = self.projection.name(), %error, failures, "batch failed; retrying");
                    std::thread::sleep(Duration::from_millis(200 * failures));
                }
            }
        }
    }
}

/// How a batch transaction ended.
enum BatchOutcome {
    /// Applied and committed; the positions stored, per partition.
    Stored(Vec<(i32, i64)>),
    /// Nothing applied: the stored offsets are behind this worker's (they were set back).
    Rewound(Vec<(i32, i64)>),
}

/// One transaction: skip what the stored offsets say is applied already, apply the rest,
/// store the new offsets, and notify.
async fn apply_batch(
    projection: Projection,
    connection: &mut PgConnection,
    topic: &str,
    batch: &[Record],
    highs: &HashMap<i32, i64>,
    last_stored: &HashMap<i32, i64>,
) -> Result<BatchOutcome, ApplyError> {
    let mut ends: BTreeMap<i32, Position> = BTreeMap::new();
    for record in batch {
        let end = ends.entry(record.partition).or_insert(Position {
            partition: record.partition,
            next_offset: 0,
            high_watermark: highs.get(&record.partition).copied(),
            last_event_at: None,
        });
        end.next_offset = end.next_offset.max(record.offset + 1);
        if let Read::Event(event) = &record.read {
            end.last_event_at = Some(event.occurred_at);
        }
    }
    let mut tx = connection.begin().await?;
    let outcome = apply_in(&mut tx, projection, topic, batch, ends, last_stored).await;
    match outcome {
        Ok(BatchOutcome::Stored(positions)) => {
            tx.commit().await?;
            Ok(BatchOutcome::Stored(positions))
        }
        // Ended now, not when the connection is next used: until then the transaction
        // would hold the offsets' row locks, which the idle path's update waits for.
        other => {
            tx.rollback().await?;
            other
        }
    }
}

/// The batch's work inside its transaction; the caller commits only `Stored`.
async fn apply_in(
    tx: &mut PgConnection,
    projection: Projection,
    topic: &str,
    batch: &[Record],
    ends: BTreeMap<i32, Position>,
    last_stored: &HashMap<i32, i64>,
) -> Result<BatchOutcome, ApplyError> {
    let partitions: Vec<i32> = ends.keys().copied().collect();
    let stored = offsets::lock(&mut *tx, projection.name(), topic, &partitions).await?;
    // Every partition this worker has stored, not only this batch's: a partition set back
    // while no event of it arrives would otherwise go unnoticed, its consumer reading on
    // past the events the switched-in tables lack.
    let current = offsets::load(&mut *tx, projection.name(), topic).await?;
    let set_back = offsets::set_back(last_stored, &current);
    if !set_back.is_empty() {
        return Ok(BatchOutcome::Rewound(set_back));
    }
    let events: Vec<&EventEnvelope> = batch
        .iter()
        .filter(|r| r.offset >= stored.get(&r.partition).copied().unwrap_or(0))
        .filter_map(|r| match &r.read {
            Read::Event(event) => Some(event),
            Read::Unreadable(_) | Read::Skipped => None,
        })
        .collect();
    let changed = if events.is_empty() {
        vec![]
    } else {
        projection.apply(&mut *tx, &events).await?
    };
    let positions: Vec<Position> = ends
        .into_values()
        .filter(|p| p.next_offset > stored.get(&p.partition).copied().unwrap_or(0))
        .collect();
    offsets::store(&mut *tx, projection.name(), topic, &positions).await?;
    if !changed.is_empty() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(crate::notify::payload(projection, &changed, &positions))
            .execute(&mut *tx)
            .await?;
    }
    Ok(BatchOutcome::Stored(
        positions
            .iter()
            .map(|p| (p.partition, p.next_offset))
            .collect(),
    ))
}

/// The end of each assigned partition, refreshed at most once a second (a metadata call).
#[derive(Default)]
struct Watermarks {
    highs: HashMap<i32, i64>,
    refreshed: Option<Instant>,
    idle_observed: Option<Instant>,
}

impl Watermarks {
    fn refresh(
        &mut self,
        consumer: &BaseConsumer<StartAtStoredOffsets>,
        topic: &str,
        partitions: &[i32],
    ) -> HashMap<i32, i64> {
        if self
            .refreshed
            .is_none_or(|at| at.elapsed() > Duration::from_secs(1))
        {
            for partition in partitions {
                if let Ok((_, high)) =
                    consumer.fetch_watermarks(topic, *partition, Duration::from_secs(2))
                {
                    self.highs.insert(*partition, high);
                }
            }
            self.refreshed = Some(Instant::now());
        }
        self.highs.clone()
    }

    /// While idle, once a second: each assigned partition's consumer position and end.
    fn idle_ends(
        &mut self,
        consumer: &BaseConsumer<StartAtStoredOffsets>,
        topic: &str,
        partitions: &[i32],
    ) -> Option<Vec<offsets::LogEnd>> {
        if self
            .idle_observed
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
            || partitions.is_empty()
        {
            return None;
        }
        self.idle_observed = Some(Instant::now());
        let highs = self.refresh(consumer, topic, partitions);
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
