//! The projections' positions in the event log, stored in PostgreSQL beside their rows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Where a batch ends in one partition, and what the log's end was when it was read.
#[derive(Debug, Clone, Copy)]
pub struct Position {
    pub partition: i32,
    pub next_offset: i64,
    pub high_watermark: Option<i64>,
    pub last_event_at: Option<DateTime<Utc>>,
}

/// The stored next offset of every partition of `topic` for `projection`.
pub async fn load(pool: &PgPool, projection: &str, topic: &str) -> Result<HashMap<i32, i64>, sqlx::Error> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT partition, next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2")
            .bind(projection)
            .bind(topic)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Locks the partitions' rows for this transaction and returns their stored offsets, so two
/// workers that briefly both hold a partition during a rebalance never apply a range twice.
pub async fn lock(
    tx: &mut PgConnection,
    projection: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<HashMap<i32, i64>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO projection_offsets (projection, topic, partition, next_offset)
         SELECT $1, $2, p, 0 FROM UNNEST($3::int4[]) AS p
         ON CONFLICT DO NOTHING",
    )
    .bind(projection)
    .bind(topic)
    .bind(partitions)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT partition, next_offset FROM projection_offsets
         WHERE projection = $1 AND topic = $2 AND partition = ANY($3) FOR UPDATE",
    )
    .bind(projection)
    .bind(topic)
    .bind(partitions)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().collect())
}

pub async fn store(tx: &mut PgConnection, projection: &str, topic: &str, positions: &[Position]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_offsets o SET next_offset = p.next_offset,
                high_watermark = coalesce(p.high_watermark, o.high_watermark),
                last_event_at = coalesce(p.last_event_at, o.last_event_at), updated_at = now()
         FROM UNNEST($3::int4[], $4::int8[], $5::int8[], $6::timestamptz[])
              AS p(partition, next_offset, high_watermark, last_event_at)
         WHERE o.projection = $1 AND o.topic = $2 AND o.partition = p.partition",
    )
    .bind(projection)
    .bind(topic)
    .bind(positions.iter().map(|p| p.partition).collect::<Vec<_>>())
    .bind(positions.iter().map(|p| p.next_offset).collect::<Vec<_>>())
    .bind(positions.iter().map(|p| p.high_watermark).collect::<Vec<_>>())
    .bind(positions.iter().map(|p| p.last_event_at).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
