//! `projections`: how far each read model is behind the log.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::types::Long;
use crate::errors::ApiError;

#[derive(Debug, Clone, SimpleObject)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The next offset the projection will apply.
    pub next_offset: Long,
    /// The end of the partition when the projection last looked.
    pub high_watermark: Option<Long>,
    /// Events not yet applied.
    pub lag: Long,
    /// When the last applied event happened.
    pub last_event_at: Option<DateTime<Utc>>,
    /// When the projection last committed on this partition.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct ProjectionStatus {
    pub name: String,
    /// Events not yet applied, over every partition.
    pub lag: Long,
    pub last_event_at: Option<DateTime<Utc>>,
    pub partitions: Vec<PartitionLag>,
}

type LagRow = (
    String,
    String,
    i32,
    i64,
    Option<i64>,
    i64,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

pub(crate) async fn projections(pool: &PgPool) -> Result<Vec<ProjectionStatus>, ApiError> {
    let rows: Vec<LagRow> = sqlx::query_as(
        "SELECT projection, topic, partition, next_offset, high_watermark, lag, last_event_at, updated_at
         FROM projection_lag ORDER BY projection, topic, partition",
    )
    .fetch_all(pool)
    .await?;
    let mut statuses: Vec<ProjectionStatus> = Vec::new();
    for (name, topic, partition, next_offset, high_watermark, lag, last_event_at, updated_at) in
        rows
    {
        if statuses.last().is_none_or(|s| s.name != name) {
            statuses.push(ProjectionStatus {
                name: name.clone(),
                lag: Long::from(0),
                last_event_at: None,
                partitions: Vec::new(),
            });
        }
        if let Some(status) = statuses.last_mut() {
            status.lag.0 += i128::from(lag);
            status.last_event_at = status.last_event_at.max(last_event_at);
            status.partitions.push(PartitionLag {
                topic,
                partition,
                next_offset: Long::from(next_offset),
                high_watermark: high_watermark.map(Long::from),
                lag: Long::from(lag),
                last_event_at,
                updated_at,
            });
        }
    }
    Ok(statuses)
}
