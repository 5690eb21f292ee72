//! The lag, from the log's end, whatever the workers are doing: once a second the end of
//! each events partition is read from Kafka and recorded beside every projection's stored
//! offsets, and the `orderlog_projection_lag` gauge is set from both. A worker that stopped
//! or waits out an outage still shows its lag growing, in `/metrics` and in the
//! `projection_lag` view query-api serves. `orderlog_projection_lag_seconds` says how long
//! the oldest unapplied event has waited (`lag_history`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use event_store::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::PgPool;
use tokio::runtime::Handle;

use crate::lag_history::EndHistory;

const EVERY: Duration = Duration::from_secs(1);

/// Starts the observer thread; it ends when `stop` is set.
pub(crate) fn spawn(
    kafka: &KafkaConfig,
    projections: Vec<&'static str>,
    topic: String,
    pool: PgPool,
    runtime: Handle,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let consumer: Option<BaseConsumer> = kafka
        .read_committed_consumer("orderlog-lag")
        .set("log_level", "3")
        .create()
        .ok();
    std::thread::Builder::new()
        .name("projection-lag".to_owned())
        .spawn(move || {
            let Some(consumer) = consumer else {
                tracing::error!(
                    "the lag observer has no Kafka client; lag comes from the workers only"
                );
                return;
            };
            let mut history = EndHistory::default();
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(EVERY);
                let Some(ends) = log_ends(&consumer, &topic) else {
                    continue;
                };
                let now = Instant::now();
                for (partition, end) in &ends {
                    history.observe(*partition, *end, now);
                }
                let recorded = record(&pool, &projections, &topic, &ends, &history);
                if let Err(error) = runtime.block_on(recorded) {
                    tracing::debug!(%error, "recording the log's end failed; retrying in a second");
                }
            }
        })
}

/// Each partition's end as a read_committed reader reaches it.
fn log_ends(consumer: &BaseConsumer, topic: &str) -> Option<Vec<(i32, i64)>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(2))
        .ok()?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()?
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    partitions
        .into_iter()
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(2))
                .ok()
                .map(|(_, high)| (p, high))
        })
        .collect()
}

/// One row at a time, and only rows whose end moved: the observer never holds one
/// offsets row while waiting for another, so it cannot deadlock with a worker's batch. A
/// partition no batch has touched yet gets its row (nothing applied: next offset 0), so
/// its lag shows too.
async fn record(
    pool: &PgPool,
    projections: &[&'static str],
    topic: &str,
    ends: &[(i32, i64)],
    history: &EndHistory,
) -> Result<(), sqlx::Error> {
    let partitions: Vec<i32> = ends.iter().map(|(p, _)| *p).collect();
    sqlx::query(
        "INSERT INTO projection_offsets (projection, topic, partition, next_offset)
         SELECT p, $2, q, 0 FROM UNNEST($1::text[]) AS p, UNNEST($3::int4[]) AS q
         ON CONFLICT DO NOTHING",
    )
    .bind(projections)
    .bind(topic)
    .bind(&partitions)
    .execute(pool)
    .await?;
    for (partition, high) in ends {
        sqlx::query(
            "UPDATE projection_offsets SET high_watermark = $3
             WHERE topic = $1 AND partition = $2 AND high_watermark IS DISTINCT FROM $3 AND next_offset <= $3",
        )
        .bind(topic)
        .bind(partition)
        .bind(high)
        .execute(pool)
        .await?;
    }
    let rows: Vec<(String, i32, i64)> =
        sqlx::query_as("SELECT projection, partition, lag FROM projection_lag WHERE topic = $1")
            .bind(topic)
            .fetch_all(pool)
            .await?;
    let now = Instant::now();
    for (projection, partition, lag) in rows {
        let waiting = ends
            .iter()
            .find(|(p, _)| *p == partition)
            .map_or(Duration::ZERO, |(_, end)| {
                history.waiting(partition, end - lag, now)
            });
        let partition = partition.to_string();
        metrics::gauge!("orderlog_projection_lag_seconds", "projection" => projection.clone(), "partition" => partition.clone())
            .set(waiting.as_secs_f64());
        metrics::gauge!("orderlog_projection_lag", "projection" => projection, "partition" => partition)
            .set(lag as f64);
    }
    Ok(())
}
