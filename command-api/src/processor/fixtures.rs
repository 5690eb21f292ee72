//! Commands for the processor's unit tests (`OrderSlot::cancelled_for_tests` builds an
//! order from them through the domain, as real commands build it).

use schemas::Command;

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
