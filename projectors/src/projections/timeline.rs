//! The order timeline: every event of every order, in order, for history views.

use schemas::EventEnvelope;
use sqlx::PgConnection;

use super::ApplyError;

pub(super) async fn apply(
    tx: &mut PgConnection,
    events: &[&EventEnvelope],
) -> Result<Vec<(uuid::Uuid, u64)>, ApplyError> {
    let mut order_ids = Vec::with_capacity(events.len());
    let mut versions = Vec::with_capacity(events.len());
    let mut event_ids = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    for event in events {
        order_ids.push(event.order_id.as_uuid());
        versions.push(event.order_version as i64);
        event_ids.push(event.event_id);
        types.push(event.event.type_name().to_owned());
        times.push(event.occurred_at);
        payloads.push(event.event.to_payload());
    }
    // (order_id, version) is the key: a replayed event is already there and changes nothing.
    sqlx::query(
        "INSERT INTO order_timeline (order_id, version, event_id, event_type, occurred_at, payload)
         SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::timestamptz[], $6::jsonb[])
         ON CONFLICT (order_id, version) DO NOTHING",
    )
    .bind(&order_ids)
    .bind(&versions)
    .bind(&event_ids)
    .bind(&types)
    .bind(&times)
    .bind(&payloads)
    .execute(&mut *tx)
    .await?;
    Ok(super::by_order(events)
        .into_iter()
        .filter_map(|(id, group)| group.last().map(|e| (id, e.order_version)))
        .collect())
}
