//! Commands: what internal services ask the platform to do with an order.
//!
//! Each command's body is what its HTTP endpoint accepts; unknown fields are refused.
//! On the commands topic a command travels as `{"type": "<Name>", "data": {<body>}}`.

use serde::{Deserialize, Serialize};

use crate::values::{
    Address, Carrier, Currency, CustomerId, Money, PaymentReference, Quantity, Sku, TrackingNumber,
    WindowSeconds,
};
use crate::values::{TextError, text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum Command {
    PlaceOrder(PlaceOrder),
    AddLine(AddLine),
    RemoveLine(RemoveLine),
    ChangeShippingAddress(ChangeShippingAddress),
    ConfirmPayment(ConfirmPayment),
    ShipOrder(ShipOrder),
    DeliverOrder(DeliverOrder),
    CancelOrder(CancelOrder),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::PlaceOrder(_) => "PlaceOrder",
            Command::AddLine(_) => "AddLine",
            Command::RemoveLine(_) => "RemoveLine",
            Command::ChangeShippingAddress(_) => "ChangeShippingAddress",
            Command::ConfirmPayment(_) => "ConfirmPayment",
            Command::ShipOrder(_) => "ShipOrder",
            Command::DeliverOrder(_) => "DeliverOrder",
            Command::CancelOrder(_) => "CancelOrder",
        }
    }
}

/// A line as a caller asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLine {
    pub sku: Sku,
    pub quantity: Quantity,
    /// Price of one unit, in the order's currency.
    pub unit_price: Money,
}

/// Places a new order with one or more lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    pub customer_id: CustomerId,
    pub currency: Currency,
    /// One to 100 lines, each SKU at most once.
    #[schemars(length(min = 1, max = 100))]
    pub lines: Vec<NewLine>,
    pub shipping_address: Address,
    /// A payment window shorter than the platform's (`ORDERLOG_PAYMENT_WINDOW`, 30 minutes
    /// by default), in seconds, at least 60: the order expires if unpaid by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "WindowSeconds")]
    pub payment_window_seconds: Option<WindowSeconds>,
}

/// Adds a line for a SKU the order does not hold yet. Only while the order is placed.
/// On the wire it is the line itself (transparent, so an invalid field is named by its own
/// path, such as `quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct AddLine {
    pub line: NewLine,
}

/// Removes the line for a SKU. Only while the order is placed, and never its last line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveLine {
    pub sku: Sku,
}

/// Changes where the order ships to. Only while the order is placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeShippingAddress {
    pub shipping_address: Address,
}

/// Records the payment of a placed order; the amount must equal the order's total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPayment {
    pub payment_reference: PaymentReference,
    pub amount: Money,
}

/// Hands a paid order to a carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipOrder {
    pub carrier: Carrier,
    pub tracking_number: TrackingNumber,
}

/// Records that a shipped order reached its recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverOrder {}

/// Cancels an order that has not shipped; a paid order then owes a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelOrder {
    pub reason: CancelReason,
}

/// Why an order was cancelled: 1 to 500 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CancelReason(String);

impl CancelReason {
    pub fn parse(value: &str) -> Result<Self, TextError> {
        text(value, 500).map(Self)
    }
}

crate::values::string_value!(CancelReason, TextError, { "type": "string", "minLength": 1, "maxLength": 500, "pattern": crate::values::TEXT_PATTERN });
