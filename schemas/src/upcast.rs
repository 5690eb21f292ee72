//! Upcasters: turn a payload written at an old schema version into the current one, one
//! version step at a time, so events written years ago stay readable.
//!
//! Each step is a pure JSON transformation. Adding a schema version means: bump the
//! version in [`crate::event::EVENT_TYPES`], add the step here, and add a golden fixture for
//! the new version beside the old ones (`schemas/fixtures/events/`).

use serde_json::{Value, json};

/// An old payload a step could not convert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UpcastError(pub(crate) String);

/// Applies every step from `version` to the current version of `type_name`.
pub(crate) fn to_current(
    type_name: &str,
    version: u32,
    payload: Value,
) -> Result<Value, UpcastError> {
    let mut payload = payload;
    let mut version = version;
    while let Some(step) = step(type_name, version) {
        payload = step(payload).map_err(UpcastError)?;
        version += 1;
    }
    Ok(payload)
}

type Step = fn(Value) -> Result<Value, String>;

fn step(type_name: &str, from_version: u32) -> Option<Step> {
    match (type_name, from_version) {
        ("dev.orderlog.order.payment_confirmed", 1) => Some(payment_confirmed_v1_to_v2),
        // Versions that only added a due time: the old payload is the new one without it.
        // An order placed (or paid) before deadlines existed has none and never expires.
        ("dev.orderlog.order.placed", 1) | ("dev.orderlog.order.payment_confirmed", 2) => {
            Some(without_due_time)
        }
        _ => None,
    }
}

/// v1: `{"reference", "amount_minor", "currency"}`; v2: `{"payment_reference", "amount": Money}`.
fn payment_confirmed_v1_to_v2(v1: Value) -> Result<Value, String> {
    let field = |name: &str| {
        v1.get(name)
            .cloned()
            .ok_or_else(|| format!("v1 payload has no {name}"))
    };
    Ok(json!({
        "payment_reference": field("reference")?,
        "amount": { "amount_minor": field("amount_minor")?, "currency": field("currency")? },
    }))
}

/// v1 of `placed`, v2 of `payment_confirmed`: the same fields, no due time.
fn without_due_time(old: Value) -> Result<Value, String> {
    Ok(old)
}
