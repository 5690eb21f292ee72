//! Request bodies of the command API for tests: money, an address, the default order.

use serde_json::{Value, json};

/// An amount in euro cents.
pub fn money(minor: i64) -> Value {
    json!({ "amount_minor": minor, "currency": "EUR" })
}

pub fn address(city: &str) -> Value {
    json!({ "name": "Ada Lovelace", "line1": "1 Analytical Way", "city": city, "postal_code": "10115", "country": "DE" })
}

/// Two lines: 2 x 500 + 1 x 250 = 1250 cents.
pub fn place_body() -> Value {
    json!({
        "customer_id": "cust-42",
        "currency": "EUR",
        "lines": [
            { "sku": "A-1", "quantity": 2, "unit_price": money(500) },
            { "sku": "B-2", "quantity": 1, "unit_price": money(250) }
        ],
        "shipping_address": address("Berlin")
    })
}
