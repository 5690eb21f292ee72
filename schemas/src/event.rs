//! Events: the facts of an order's life, one type per fact, in the past tense.
//!
//! Each event type has a stable name (the CloudEvents `type`) and a schema version. The
//! payload on the wire is the event's data only; [`Event::to_payload`] and
//! [`Event::from_payload`] convert, upcasting payloads written at older schema versions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::command::CancelReason;
use crate::upcast;
use crate::values::{
    Address, Carrier, Currency, CustomerId, Money, PaymentReference, Quantity, Sku, TrackingNumber,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename = "dev.orderlog.order.placed")]
    OrderPlaced(OrderPlaced),
    #[serde(rename = "dev.orderlog.order.line_added")]
    LineAdded(LineAdded),
    #[serde(rename = "dev.orderlog.order.line_removed")]
    LineRemoved(LineRemoved),
    #[serde(rename = "dev.orderlog.order.shipping_address_changed")]
    ShippingAddressChanged(ShippingAddressChanged),
    #[serde(rename = "dev.orderlog.order.payment_confirmed")]
    PaymentConfirmed(PaymentConfirmed),
    #[serde(rename = "dev.orderlog.order.shipped")]
    OrderShipped(OrderShipped),
    #[serde(rename = "dev.orderlog.order.delivered")]
    OrderDelivered(OrderDelivered),
    #[serde(rename = "dev.orderlog.order.cancelled")]
    OrderCancelled(OrderCancelled),
    #[serde(rename = "dev.orderlog.order.expired")]
    OrderExpired(OrderExpired),
    #[serde(rename = "dev.orderlog.order.shipment_overdue")]
    ShipmentOverdue(ShipmentOverdue),
}

/// Every event type with its current schema version, in lifecycle order.
pub const EVENT_TYPES: [(&str, u32); 10] = [
    ("dev.orderlog.order.placed", 2),
    ("dev.orderlog.order.line_added", 1),
    ("dev.orderlog.order.line_removed", 1),
    ("dev.orderlog.order.shipping_address_changed", 1),
    ("dev.orderlog.order.payment_confirmed", 3),
    ("dev.orderlog.order.shipped", 1),
    ("dev.orderlog.order.delivered", 1),
    ("dev.orderlog.order.cancelled", 1),
    ("dev.orderlog.order.expired", 1),
    ("dev.orderlog.order.shipment_overdue", 1),
];

impl Event {
    fn index(&self) -> usize {
        match self {
            Event::OrderPlaced(_) => 0,
            Event::LineAdded(_) => 1,
            Event::LineRemoved(_) => 2,
            Event::ShippingAddressChanged(_) => 3,
            Event::PaymentConfirmed(_) => 4,
            Event::OrderShipped(_) => 5,
            Event::OrderDelivered(_) => 6,
            Event::OrderCancelled(_) => 7,
            Event::OrderExpired(_) => 8,
            Event::ShipmentOverdue(_) => 9,
        }
    }

    /// The stable type name, used as the CloudEvents `type`.
    pub fn type_name(&self) -> &'static str {
        EVENT_TYPES[self.index()].0
    }

    /// The schema version this code writes for this event type.
    pub fn schema_version(&self) -> u32 {
        EVENT_TYPES[self.index()].1
    }

    /// The event's data as the JSON payload written to the wire.
    pub fn to_payload(&self) -> serde_json::Value {
        self.with_data(|data| data.to_value())
            .unwrap_or_else(|_| serde_json::json!({}))
    }

    /// The event's data as the JSON bytes written to the wire (no intermediate value).
    pub fn to_payload_json(&self) -> Vec<u8> {
        self.with_data(|data| data.to_vec()).unwrap_or_default()
    }

    fn with_data<T>(
        &self,
        f: impl FnOnce(&dyn erased::Data) -> Result<T, serde_json::Error>,
    ) -> Result<T, serde_json::Error> {
        match self {
            Event::OrderPlaced(data) => f(data),
            Event::LineAdded(data) => f(data),
            Event::LineRemoved(data) => f(data),
            Event::ShippingAddressChanged(data) => f(data),
            Event::PaymentConfirmed(data) => f(data),
            Event::OrderShipped(data) => f(data),
            Event::OrderDelivered(data) => f(data),
            Event::OrderCancelled(data) => f(data),
            Event::OrderExpired(data) => f(data),
            Event::ShipmentOverdue(data) => f(data),
        }
    }

    /// The current schema version of `type_name`, if `schema_version` can be read at all.
    fn check_version(type_name: &str, schema_version: u32) -> Result<u32, DecodeError> {
        let current = EVENT_TYPES
            .iter()
            .find(|(name, _)| *name == type_name)
            .map(|(_, version)| *version)
            .ok_or_else(|| DecodeError::UnknownType(type_name.to_owned()))?;
        if schema_version == 0 || schema_version > current {
            return Err(DecodeError::UnknownVersion {
                type_name: type_name.to_owned(),
                version: schema_version,
            });
        }
        Ok(current)
    }

    /// Reads a payload written at `schema_version` of `type_name`, upcasting old versions.
    pub fn from_payload(
        type_name: &str,
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<Event, DecodeError> {
        Event::check_version(type_name, schema_version)?;
        let data = upcast::to_current(type_name, schema_version, payload)
            .map_err(|e| invalid(type_name, &e))?;
        Event::from_data(type_name, data).map_err(|e| invalid(type_name, &e))
    }

    /// Reads a payload from its JSON bytes. The current schema version is read straight
    /// into the event's type; older ones go through a JSON value and the upcaster.
    pub fn from_payload_json(
        type_name: &str,
        schema_version: u32,
        json: &[u8],
    ) -> Result<Event, PayloadError> {
        let current = Event::check_version(type_name, schema_version)?;
        if schema_version < current {
            let payload: serde_json::Value =
                serde_json::from_slice(json).map_err(|e| PayloadError::NotJson(e.to_string()))?;
            return Ok(Event::from_payload(type_name, schema_version, payload)?);
        }
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let event = Event::from_data(type_name, &mut deserializer)
            .and_then(|event| deserializer.end().map(|()| event))
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => PayloadError::Decode(invalid(type_name, &e)),
                _ => PayloadError::NotJson(e.to_string()),
            })?;
        Ok(event)
    }

    /// The event of `type_name` whose data `data` holds (in the current schema).
    fn from_data<'de, D: serde::Deserializer<'de>>(
        type_name: &str,
        data: D,
    ) -> Result<Event, D::Error> {
        let index = EVENT_TYPES
            .iter()
            .position(|(name, _)| *name == type_name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event type {type_name}")))?;
        Ok(match index {
            0 => Event::OrderPlaced(OrderPlaced::deserialize(data)?),
            1 => Event::LineAdded(LineAdded::deserialize(data)?),
            2 => Event::LineRemoved(LineRemoved::deserialize(data)?),
            3 => Event::ShippingAddressChanged(ShippingAddressChanged::deserialize(data)?),
            4 => Event::PaymentConfirmed(PaymentConfirmed::deserialize(data)?),
            5 => Event::OrderShipped(OrderShipped::deserialize(data)?),
            6 => Event::OrderDelivered(OrderDelivered::deserialize(data)?),
            7 => Event::OrderCancelled(OrderCancelled::deserialize(data)?),
            8 => Event::OrderExpired(OrderExpired::deserialize(data)?),
            _ => Event::ShipmentOverdue(ShipmentOverdue::deserialize(data)?),
        })
    }
}

fn invalid(type_name: &str, error: &dyn std::fmt::Display) -> DecodeError {
    DecodeError::Invalid {
        type_name: type_name.to_owned(),
        reason: error.to_string(),
    }
}

/// Serialising any event's data through one function (see [`Event::with_data`]).
mod erased {
    pub(super) trait Data {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error>;
        fn to_vec(&self) -> Result<Vec<u8>, serde_json::Error>;
    }

    impl<T: serde::Serialize> Data for T {
        fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
            serde_json::to_value(self)
        }
        fn to_vec(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}

/// Why a payload's bytes could not be read as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("the value is not JSON: {0}")]
    NotJson(String),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("event type {type_name} has no schema version {version}")]
    UnknownVersion { type_name: String, version: u32 },
    #[error("{type_name} payload does not match its schema: {reason}")]
    Invalid { type_name: String, reason: String },
}

/// A line of an order as it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: Money,
    /// `quantity * unit_price`.
    pub line_total: Money,
}

/// An order was placed. (Schema version 2 added `payment_due_at`; version 1 orders, placed
/// before deadlines existed, have none and never expire.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderPlaced {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: Vec<Line>,
    pub shipping_address: Address,
    /// Sum of the line totals.
    pub order_total: Money,
    /// When the order expires if it is not paid by then (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_due_at: Option<DateTime<Utc>>,
}

/// A line was added to a placed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineAdded {
    pub line: Line,
    /// The order's total after the change.
    pub order_total: Money,
}

/// A line was removed from a placed order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRemoved {
    /// The line as it was before removal.
    pub line: Line,
    /// The order's total after the change.
    pub order_total: Money,
}

/// The shipping address of a placed order changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingAddressChanged {
    pub shipping_address: Address,
}

/// The order was paid in full. (Schema version 3 added `ship_by`; version 2 had none, and
/// version 1 had flat `reference`, `amount_minor` and `currency` fields, upcast on read.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentConfirmed {
    pub payment_reference: PaymentReference,
    pub amount: Money,
    /// The shipping promise: the order is flagged overdue if it is not shipped by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_by: Option<DateTime<Utc>>,
}

/// The order was handed to a carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderShipped {
    pub carrier: Carrier,
    pub tracking_number: TrackingNumber,
}

/// The order reached its recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderDelivered {}

/// The order was cancelled before shipping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderCancelled {
    pub reason: CancelReason,
    /// The amount to refund, when the order had been paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_due: Option<Money>,
}

/// Why an order expired (an enumerated value: no caller can write it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryCause {
    /// Its payment window passed unpaid.
    PaymentTimeout,
}

/// A placed order's payment window passed unpaid: the order expired (it is final).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderExpired {
    pub cause: ExpiryCause,
    /// The due time that passed.
    pub payment_due_at: DateTime<Utc>,
}

/// A paid order was not shipped by its shipping promise (once per order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentOverdue {
    /// The promise that passed.
    pub ship_by: DateTime<Utc>,
}
