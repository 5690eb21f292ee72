//! The change signal sent with each commit, on the `orderlog_changes` channel:
//! `{"projection": "orders", "orders": [{"id": "...", "version": 3}, ...],
//!   "positions": [{"partition": 0, "next_offset": 42}]}`.
//! NOTIFY payloads are limited to 8000 bytes: past that, `orders` is left out and
//! `"truncated": true` tells listeners to re-read what they watch.

use serde_json::json;

use crate::offsets::Position;
use crate::projections::Projection;

/// The channel projectors notify on after each commit.
pub const CHANNEL: &str = "orderlog_changes";

const MAX_PAYLOAD: usize = 7900;

pub(crate) fn payload(
    projection: Projection,
    changed: &[(uuid::Uuid, u64)],
    positions: &[Position],
) -> String {
    let positions: Vec<_> = positions
        .iter()
        .map(|p| json!({ "partition": p.partition, "next_offset": p.next_offset }))
        .collect();
    let orders: Vec<_> = changed
        .iter()
        .map(|(id, version)| json!({ "id": id, "version": version }))
        .collect();
    let full = json!({ "projection": projection.name(), "orders": orders, "positions": positions })
        .to_string();
    if full.len() <= MAX_PAYLOAD {
        return full;
    }
    json!({ "projection": projection.name(), "truncated": true, "positions": positions })
        .to_string()
}
