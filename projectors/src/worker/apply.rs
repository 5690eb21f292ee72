//! The applying half of a worker, on its own thread: each batch, with its offsets and a
//! change notification, in one database transaction. It waits out a database that is
//! gone (as long as it takes), sets poison aside, and stops only for what retrying cannot
//! fix.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use event_store::Backoff;
use schemas::EventEnvelope;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use super::WorkerError;
use super::poll::{Read, Record};
use super::settings::{PoisonPolicy, WorkerSettings};
use super::status::WorkerStatus;
use crate::dead_letters::DeadLetters;
use crate::offsets::{self, Position};
use crate::projections::{ApplyError, Poison, Projection};

/// Attempts for a database error that is not an outage (a statement the data makes
/// fail): past them it is a bug, and the worker stops and says so.
const DETERMINISTIC_ATTEMPTS: u32 = 5;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Applied {
    Done,
    /// The stored offsets were behind what this worker last stored: nothing was applied.
    Rewound,
    /// The worker is stopping while the batch waited for the database: nothing applied.
    Abandoned,
}

pub(super) struct Applier {
    pub(super) projection: Projection,
    pub(super) pool: PgPool,
    pub(super) runtime: tokio::runtime::Handle,
    /// Batches run on this thread's own runtime and connection: the connection's replies
    /// wake this thread directly, not through one of the shared runtime's workers first.
    pub(super) local: tokio::runtime::Runtime,
    pub(super) connection: Option<PgConnection>,
    pub(super) settings: WorkerSettings,
    pub(super) dead_letters: DeadLetters,
    pub(super) status: Arc<WorkerStatus>,
    pub(super) stop: Arc<AtomicBool>,
    /// What this worker last stored per partition, to notice offsets moving backwards.
    pub(super) last_stored: HashMap<i32, i64>,
    /// Applied batches go here to be freed on another thread: dropping thousands of
    /// decoded events is allocator work the next database round trip need not wait for.
    pub(super) garbage: std::sync::mpsc::Sender<Vec<Record>>,
}

pub(super) fn garbage_thread(
    projection: Projection,
) -> std::io::Result<std::sync::mpsc::Sender<Vec<Record>>> {
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
    pub(super) fn observe_idle(&mut self, ends: &[offsets::LogEnd]) -> Applied {
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
        let set_back = offsets::set_back(&self.last_stored, &stored);
        if set_back.is_empty() {
            return Applied::Done;
        }
        self.last_stored.extend(set_back);
        Applied::Rewound
    }

    pub(super) fn apply(
        &mut self,
        mut batch: Vec<Record>,
        highs: &HashMap<i32, i64>,
    ) -> Result<Applied, WorkerError> {
        let outcome = self.apply_with_poison(&mut batch, highs)?;
        // Freed elsewhere; if that thread is gone, it is freed here.
        if let Err(returned) = self.garbage.send(batch) {
            drop(returned.0);
        }
        Ok(match outcome {
            Some(BatchOutcome::Stored(positions)) => {
                self.last_stored.extend(positions);
                Applied::Done
            }
            Some(BatchOutcome::Rewound(stored)) => {
                self.last_stored.extend(stored);
                Applied::Rewound
            }
            None => Applied::Abandoned,
        })
    }

    /// Sets a record aside by policy: to the dead-letter topic (waiting out Kafka as long
    /// as it takes), or a halt.
    fn set_aside(
        &self,
        record: &mut Record,
        reason: &str,
        poison: Option<&Poison>,
    ) -> Result<bool, WorkerError> {
        if self.settings.on_poison == PoisonPolicy::Halt {
            return Err(WorkerError::Halted(format!(
                "partition {} offset {}: {}",
                record.partition,
                record.offset,
                poison.map_or_else(|| reason.to_owned(), ToString::to_string)
            )));
        }
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            match self
                .dead_letters
                .set_aside(record.partition, record.offset, reason)
            {
                Ok(()) => {
                    record.read = Read::Skipped;
                    self.status.set_waiting(None);
                    return Ok(true);
                }
                Err(error) => {
                    if self.stop.load(Ordering::SeqCst) {
                        return Ok(false);
                    }
                    tracing::warn!(projection = self.projection.name(), %error, "dead-lettering failed; retrying");
                    metrics::counter!("orderlog_projection_retries_total", "projection" => self.projection.name(), "reason" => "dead_letter").increment(1);
                    self.status
                        .set_waiting(Some(format!("dead-lettering: {error}")));
                    std::thread::sleep(backoff.next_delay());
                }
            }
        }
    }

    /// Applies the batch; an event the projection refuses is set aside and the rest of
    /// the batch applied without it. `None` when the worker stopped while waiting.
    fn apply_with_poison(
        &mut self,
        batch: &mut [Record],
        highs: &HashMap<i32, i64>,
    ) -> Result<Option<BatchOutcome>, WorkerError> {
        for record in batch.iter_mut() {
            if let Read::Unreadable(reason) = &record.read {
                let reason = format!("unreadable event: {reason}");
                if !self.set_aside(record, &reason, None)? {
                    return Ok(None);
                }
            }
        }
        let name = self.projection.name();
        let mut outage = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let mut deterministic = 0;
        loop {
            let connection = &mut self.connection;
            let (pool, topic) = (&self.pool, &self.settings.events_topic);
            let started = std::time::Instant::now();
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
                    if outage.attempts() > 0 {
                        tracing::info!(
                            projection = name,
                            retries = outage.attempts(),
                            "database back; batch applied"
                        );
                    }
                    self.status.set_waiting(None);
                    if let BatchOutcome::Stored(_) = &outcome {
                        let events = batch
                            .iter()
                            .filter(|r| matches!(r.read, Read::Event(_)))
                            .count();
                        metrics::counter!("orderlog_projection_events_total", "projection" => name)
                            .increment(events as u64);
                        metrics::histogram!("orderlog_projection_batch_size", "projection" => name)
                            .record(events as f64);
                        // The batch's database transaction, begin to commit (and its connect).
                        metrics::histogram!("orderlog_projection_batch_seconds", "projection" => name)
                            .record(started.elapsed().as_secs_f64());
                    }
                    return Ok(Some(outcome));
                }
                Err(ApplyError::Poison(poison)) => {
                    let Some(record) = batch.iter_mut().find(
                        |r| matches!(&r.read, Read::Event(e) if e.event_id == poison.event_id),
                    ) else {
                        return Err(WorkerError::Bug(format!(
                            "a projection refused an event not in its batch: {poison}"
                        )));
                    };
                    if !self.set_aside(record, &poison.to_string(), Some(&poison))? {
                        return Ok(None);
                    }
                }
                Err(ApplyError::Database(error)) => {
                    // The next attempt starts on a fresh connection.
                    self.connection = None;
                    if self.stop.load(Ordering::SeqCst) {
                        return Ok(None);
                    }
                    let delay = if crate::db::is_transient(&error) {
                        self.status.set_waiting(Some(format!("database: {error}")));
                        metrics::counter!("orderlog_projection_retries_total", "projection" => name, "reason" => "database").increment(1);
                        tracing::warn!(projection = name, %error, attempt = outage.attempts() + 1, "database unavailable; waiting it out");
                        outage.next_delay()
                    } else {
                        deterministic += 1;
                        if deterministic >= DETERMINISTIC_ATTEMPTS {
                            return Err(WorkerError::Database(error));
                        }
                        tracing::warn!(projection = name, %error, deterministic, "batch failed; retrying");
                        Duration::from_millis(200 * u64::from(deterministic))
                    };
                    std::thread::sleep(delay);
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
    // With traces exported: a span per event, a child of the processor's span that wrote
    // it, open until the batch's transaction ends.
    let _spans: Vec<tracing::Span> = if telemetry::trace::enabled() {
        batch
            .iter()
            .filter_map(|record| match &record.read {
                Read::Event(event) => {
                    let span = tracing::info_span!(
                        "apply event",
                        otel.kind = "consumer",
                        projection = projection.name(),
                        order_id = %event.order_id,
                        version = event.order_version,
                        batch = batch.len(),
                    );
                    telemetry::trace::set_parent(&span, event.traceparent.as_deref());
                    Some(span)
                }
                _ => None,
            })
            .collect()
    } else {
        Vec::new()
    };
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
            .bind(crate::notify::CHANNEL)
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
