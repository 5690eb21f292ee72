//! Orders for the processor's unit tests, built through the domain as real commands build
//! them.

use chrono::Utc;
use schemas::values::OrderId;
use schemas::{Command, CommandEnvelope};
use uuid::Uuid;

use super::slot::OrderSlot;

/// Alice's PlaceOrder of one line.
pub(super) fn alice_places_an_order() -> Command {
    serde_json::from_value(serde_json::json!({
        "type": "PlaceOrder",
        "data": {
            "customer_id": "alice",
            "currency": "EUR",
            "lines": [{ "sku": "A-1", "quantity": 1, "unit_price": { "amount_minor": 100, "currency": "EUR" } }],
            "shipping_address": { "name": "Ada", "line1": "1 Way", "city": "Berlin", "postal_code": "10115", "country": "DE" }
        }
    }))
    .expect("a PlaceOrder")
}

/// Alice's order of one line, placed and then cancelled (a final state), with both answers
/// remembered.
pub(super) fn cancelled_slot() -> OrderSlot {
    let place = alice_places_an_order();
    let cancel: Command = serde_json::from_value(serde_json::json!({
        "type": "CancelOrder", "data": { "reason": "changed my mind" }
    }))
    .expect("a CancelOrder");
    let mut slot = OrderSlot::default();
    let order_id = OrderId::from_uuid(Uuid::from_u128(5));
    for command in [place, cancel] {
        let command_id = Uuid::now_v7();
        let envelope = CommandEnvelope {
            command_id,
            order_id,
            expected_version: None,
            correlation_id: command_id,
            issued_at: Utc::now(),
            fingerprint: CommandEnvelope::fingerprint_of(order_id, &command, None),
            traceparent: None,
            acting_for: None,
            command,
        };
        slot.handle(&envelope, Utc::now()).expect("handled");
    }
    slot
}
