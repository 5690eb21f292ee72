//! One projection's worker: a consumer group member on the events topic, on a dedicated
//! thread with a polled consumer, and an applier thread that writes each batch, with its
//! new offsets and a change notification, in one database transaction. Partitions start
//! at the offsets stored in PostgreSQL. A database or broker that goes away is waited out;
//! only a bug (or a poison event under the halt policy) stops a worker, and its status
//! says why.
//!
//! Layout:
//! - this file: starting and stopping a worker, and the consuming loop.
//! - `settings`: what a worker is told ([`WorkerSettings`], [`PoisonPolicy`]).
//! - `status`: what it shows ([`WorkerStatus`]).
//! - `assign`: partitions at their stored offsets, and seeking back to them.
//! - `poll`: records and batches as the consuming half reads them.
//! - `apply`: the applying half: transactions, outages, poison.
//! - `watermarks`: the log's end per partition, for the lag.

mod apply;
mod assign;
mod poll;
mod settings;
mod status;
mod watermarks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_store::{Backoff, KafkaConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use sqlx::PgPool;
use tokio::runtime::Handle;

use crate::dead_letters::DeadLetters;
pub use crate::notify::CHANNEL as NOTIFY_CHANNEL;
use crate::projections::Projection;
use apply::{Applied, Applier};
use assign::StartAtStoredOffsets;
use poll::{Record, Work};
pub use settings::{PoisonPolicy, WorkerSettings};
pub use status::WorkerStatus;
use watermarks::Watermarks;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("halted on a poison event: {0}")]
    Halted(String),
    #[error("bug: {0}")]
    Bug(String),
    #[error("the worker thread panicked")]
    Panicked,
    #[error(
        "the worker's thread did not end within {} s of being asked to stop (librdkafka closing its consumer); it is left to the process's exit",
        .0.as_secs()
    )]
    StopTimedOut(std::time::Duration),
    #[error("starting a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// How long [`Worker::stop`] waits for the worker's thread to end.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

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
        let status = Arc::new(WorkerStatus::new(projection.name()));
        let shared = Shared {
            projection,
            kafka,
            pool,
            runtime,
            settings,
            stop: stop.clone(),
            status: status.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("projection-{}", projection.name()))
            .spawn({
                let status = status.clone();
                move || {
                    let result = run(&shared);
                    if let Err(error) = &result {
                        status.set_failed(error.to_string());
                        metrics::counter!("orderlog_projection_failures_total", "projection" => projection.name()).increment(1);
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
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        // The thread ends after its batch in flight; a consumer dropped before it has left
        // its group can hang inside librdkafka's close (librdkafka #4884, which
        // `event_store::group::leave` works around), and a stop must not wait forever.
        let deadline = std::time::Instant::now() + STOP_WAIT;
        while !thread.is_finished() {
            if std::time::Instant::now() >= deadline {
                return Err(WorkerError::StopTimedOut(STOP_WAIT));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        thread.join().unwrap_or(Err(WorkerError::Panicked))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What a worker's threads share.
struct Shared {
    projection: Projection,
    kafka: KafkaConfig,
    pool: PgPool,
    runtime: Handle,
    settings: WorkerSettings,
    stop: Arc<AtomicBool>,
    status: Arc<WorkerStatus>,
}

fn run(shared: &Shared) -> Result<(), WorkerError> {
    let Shared {
        projection,
        kafka,
        pool,
        runtime,
        settings,
        stop,
        status,
    } = shared;
    let projection = *projection;
    let context = StartAtStoredOffsets::new(
        projection,
        settings.events_topic.clone(),
        pool.clone(),
        runtime.clone(),
        status.clone(),
    );
    let consumer: BaseConsumer<StartAtStoredOffsets> = kafka
        .read_committed_consumer(&format!(
            "{}projection-{}",
            settings.group_prefix,
            projection.name()
        ))
        .set("enable.partition.eof", "false")
        .set(
            "statistics.interval.ms",
            event_store::statistics::INTERVAL_MS,
        )
        // An idle fetch waits this long at the broker, which answers as soon as records
        // arrive: no latency, far fewer idle fetches.
        .set("fetch.wait.max.ms", "100")
        // Refetch soon after a full queue drains (docs/performance.md, "fetch backoff").
        .set("fetch.queue.backoff.ms", "10")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "2000")
        .create_with_context(context)?;
    consumer.subscribe(&[&settings.events_topic])?;
    // Decoding the next batch overlaps with applying the previous one. That is safe even
    // across rebalances: each transaction locks the stored offsets and skips what they say
    // is applied already.
    let (batches, receiver) = std::sync::mpsc::sync_channel::<Work>(2);
    let applier = spawn_applier(shared, receiver)?;
    let mut watermarks = Watermarks::start(kafka, &settings.events_topic);
    let mut resync_backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut resync_due = Instant::now();
    let mut last_record = None;
    while !stop.load(Ordering::SeqCst) && !applier.is_finished() {
        consumer.context().retry_pending(&consumer);
        if Instant::now() >= resync_due && status.take_resync() {
            if let Err(error) = assign::resync(&consumer, status) {
                tracing::warn!(projection = projection.name(), %error, "seeking back to the stored offsets failed; retrying");
                status.keep_resync();
                resync_due = Instant::now() + resync_backoff.next_delay();
            } else {
                resync_backoff.reset();
            }
        }
        let epoch = status.epoch();
        let batch = poll::poll_batch(
            &consumer,
            settings.batch_max,
            settings.linger,
            &mut last_record,
        );
        let assigned = status.assigned();
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
            let highs = watermarks.refresh(&assigned);
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
    event_store::group::leave(&consumer, Duration::from_secs(10));
    Ok(())
}

fn spawn_applier(
    shared: &Shared,
    receiver: std::sync::mpsc::Receiver<Work>,
) -> std::io::Result<JoinHandle<Result<(), WorkerError>>> {
    let Shared {
        projection,
        kafka,
        pool,
        runtime,
        settings,
        stop,
        status,
    } = shared;
    let projection = *projection;
    let dead_letters = DeadLetters::new(
        projection,
        kafka.clone(),
        &settings.events_topic,
        &settings.dead_letter_topic,
    );
    let mut applier = Applier {
        projection,
        pool: pool.clone(),
        runtime: runtime.clone(),
        local: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        connection: None,
        settings: settings.clone(),
        dead_letters: dead_letters.map_err(|e| std::io::Error::other(e.to_string()))?,
        status: status.clone(),
        stop: stop.clone(),
        last_stored: Default::default(),
        garbage: apply::garbage_thread(projection)?,
    };
    let status = status.clone();
    std::thread::Builder::new()
        .name(format!("apply-{}", projection.name()))
        .spawn(move || -> Result<(), WorkerError> {
            let mut min_epoch = 0;
            for work in receiver {
                let applied = match work {
                    Work::Idle(ends) => applier.observe_idle(&ends),
                    Work::Batch { epoch, .. } if epoch < min_epoch => continue,
                    Work::Batch { batch, highs, .. } => applier.apply(batch, &highs)?,
                };
                match applied {
                    Applied::Rewound => min_epoch = status.request_resync(),
                    Applied::Abandoned => break,
                    Applied::Done => {}
                }
            }
            Ok(())
        })
}
