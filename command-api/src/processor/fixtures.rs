//! Commands for the processor's unit tests, and their envelopes (`OrderSlot::cancelled_for_tests`
//! builds an order from them through the domain, as real commands build it).

use chrono::Utc;
use schemas::values::{CustomerId, OrderId};
use schemas::{Command, CommandEnvelope};
use uuid::Uuid;

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

/// Alice's cancellation.
pub(super) fn alice_cancels() -> Command {
    serde_json::from_value(serde_json::json!({
        "type": "CancelOrder", "data": { "reason": "changed my mind" }
    }))
    .expect("a CancelOrder")
}

/// `command` on `order_id` as the HTTP tier sends it: a fresh command id, no expected
/// version, acting for `acting_for` when a customer's token sent it.
pub(super) fn envelope(
    order_id: OrderId,
    command: Command,
    acting_for: Option<&str>,
) -> CommandEnvelope {
    let command_id = Uuid::now_v7();
    CommandEnvelope {
        command_id,
        order_id,
        expected_version: None,
        correlation_id: command_id,
        issued_at: Utc::now(),
        fingerprint: CommandEnvelope::fingerprint_of(order_id, &command, None),
        traceparent: None,
        acting_for: acting_for.map(|c| CustomerId::parse(c).expect("a customer id")),
        command,
    }
}
