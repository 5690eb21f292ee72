//! The order timeline: every event of every order, in order, for history views.
//!
//! `(order_id, version)` is the key. A batch reads which of its events the timeline holds
//! already (a range replayed after its offsets were set back) and writes the rest with one
//! binary `COPY` (a few with one `INSERT`, [`crate::copy::COPY_FROM_ROWS`]): no other writer
//! can add them meanwhile, because the batch holds the lock on its partitions' offsets.

use std::collections::HashSet;

use schemas::EventEnvelope;
use sqlx::PgConnection;
use uuid::Uuid;

use super::ApplyError;
use crate::copy::{BinaryRows, COPY_FROM_ROWS, JsonbText};

pub(super) async fn apply(
    tx: &mut PgConnection,
    events: &[&EventEnvelope],
) -> Result<Vec<(Uuid, u64)>, ApplyError> {
    let groups = super::by_order(events);
    let ids: Vec<Uuid> = groups.iter().map(|(id, _)| *id).collect();
    let mut held: HashSet<(Uuid, i64)> =
        sqlx::query_as("SELECT order_id, version FROM order_timeline WHERE order_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    // `insert` is false for an event held already, or met twice in this batch.
    let fresh: Vec<&&EventEnvelope> = events
        .iter()
        .filter(|e| held.insert((e.order_id.as_uuid(), e.order_version as i64)))
        .collect();
    if fresh.len() < COPY_FROM_ROWS {
        insert(tx, &fresh).await?;
    } else {
        copy(tx, &fresh).await?;
    }
    Ok(groups
        .into_iter()
        .filter_map(|(id, group)| group.last().map(|e| (id, e.order_version)))
        .collect())
}

/// A few events in one statement ([`COPY_FROM_ROWS`]).
async fn insert(tx: &mut PgConnection, events: &[&&EventEnvelope]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_timeline (order_id, version, event_id, event_type, occurred_at, payload)
         SELECT o, v, e, t, at, p::jsonb
         FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::timestamptz[], $6::text[])
              AS u(o, v, e, t, at, p)",
    )
    .bind(
        events
            .iter()
            .map(|e| e.order_id.as_uuid())
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.order_version as i64)
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.event.type_name())
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| String::from_utf8_lossy(&e.event.to_payload_json()).into_owned())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn copy(tx: &mut PgConnection, events: &[&&EventEnvelope]) -> Result<(), sqlx::Error> {
    let mut rows = BinaryRows::new(6);
    for event in events {
        rows.row()
            .field(event.order_id.as_uuid())
            .field(event.order_version as i64)
            .field(event.event_id)
            .field(event.event.type_name())
            .field(event.occurred_at)
            .field(JsonbText(&event.event.to_payload_json()));
    }
    if !rows.is_empty() {
        rows.copy_in(
            tx,
            "COPY order_timeline (order_id, version, event_id, event_type, occurred_at, payload)
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    }
    Ok(())
}
