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

/// Where a consumer stands in one partition while idle, and the log's end then. The
/// position may be past the stored next offset by transaction markers, never by events.
#[derive(Debug, Clone, Copy)]
pub struct LogEnd {
    pub partition: i32,
    pub position: i64,
    pub high_watermark: i64,
}

/// Records idle consumers' positions for the lag view. Never moves `next_offset`, and
/// ignores a position behind it (a stale report from a worker that lost the partition).
pub async fn observe(
    pool: &PgPool,
    projection: &str,
    topic: &str,
    ends: &[LogEnd],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_offsets o SET consumer_position = e.position, high_watermark = e.high_watermark
         FROM UNNEST($3::int4[], $4::int8[], $5::int8[]) AS e(partition, position, high_watermark)
         WHERE o.projection = $1 AND o.topic = $2 AND o.partition = e.partition AND e.position >= o.next_offset",
    )
    .bind(projection)
    .bind(topic)
    .bind(ends.iter().map(|e| e.partition).collect::<Vec<_>>())
    .bind(ends.iter().map(|e| e.position).collect::<Vec<_>>())
    .bind(ends.iter().map(|e| e.high_watermark).collect::<Vec<_>>())
    .execute(pool)
    .await?;
    Ok(())
}

/// The stored next offset of every partition of `topic` for `projection`.
pub async fn load<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    projection: &str,
    topic: &str,
) -> Result<HashMap<i32, i64>, sqlx::Error> {
    let rows: Vec<(i32, i64)> =
        sqlx::query_as("SELECT partition, next_offset FROM projection_offsets WHERE projection = $1 AND topic = $2")
            .bind(projection)
            .bind(topic)
            .fetch_all(executor)
            .await?;
    Ok(rows.into_iter().collect())
}

/// The partitions whose stored offset is now behind what this worker last stored (a
/// rebuild switched tables, or someone reset them), with the offset stored now. A partition
/// without a row counts as set back to the beginning.
pub fn set_back(last_stored: &HashMap<i32, i64>, stored: &HashMap<i32, i64>) -> Vec<(i32, i64)> {
    let mut set_back: Vec<(i32, i64)> = last_stored
        .iter()
        .filter_map(|(partition, last)| {
            let now = stored.get(partition).copied().unwrap_or(0);
            (now < *last).then_some((*partition, now))
        })
        .collect();
    set_back.sort_unstable();
    set_back
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

pub async fn store(
    tx: &mut PgConnection,
    projection: &str,
    topic: &str,
    positions: &[Position],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projection_offsets o SET next_offset = p.next_offset,
                high_watermark = coalesce(p.high_watermark, o.high_watermark),
                last_event_at = coalesce(p.last_event_at, o.last_event_at), consumer_position = NULL, updated_at = now()
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::set_back;

    #[test]
    fn only_partitions_stored_behind_this_worker_count_as_set_back() {
        let last = HashMap::from([(0, 100), (1, 50), (2, 70)]);
        let stored = HashMap::from([(0, 100), (1, 20), (3, 5)]);
        assert_eq!(set_back(&last, &stored), vec![(1, 20), (2, 0)]);
        assert!(set_back(&last, &last).is_empty());
        assert!(set_back(&HashMap::new(), &stored).is_empty());
    }
}
