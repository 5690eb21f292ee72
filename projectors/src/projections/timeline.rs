//! The order timeline: every event of every order, in order, for history views.
//!
//! `(order_id, version)` is the key. A batch reads which of its events the timeline holds
//! already (a range replayed after its offsets were set back) and copies in the rest with
//! one binary `COPY`: no other writer can add them meanwhile, because the batch holds the
//! lock on its partitions' offsets.

use std::collections::HashSet;

use schemas::EventEnvelope;
use sqlx::PgConnection;
use uuid::Uuid;

use super::ApplyError;
use crate::copy::{BinaryRows, JsonbText};

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
    let mut rows = BinaryRows::new(6);
    for event in events {
        let key = (event.order_id.as_uuid(), event.order_version as i64);
        // `insert` is false for an event held already, or met twice in this batch.
        if held.insert(key) {
            rows.row()
                .field(key.0)
                .field(key.1)
                .field(event.event_id)
                .field(event.event.type_name())
                .field(event.occurred_at)
                .field(JsonbText(&event.event.to_payload_json()));
        }
    }
    if !rows.is_empty() {
        rows.copy_in(
            tx,
            "COPY order_timeline (order_id, version, event_id, event_type, occurred_at, payload)
             FROM STDIN (FORMAT binary)",
        )
        .await?;
    }
    Ok(groups
        .into_iter()
        .filter_map(|(id, group)| group.last().map(|e| (id, e.order_version)))
        .collect())
}
