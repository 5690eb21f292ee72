//! The state of one order, and how each event changes it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Event, Line};
use crate::values::{
    Address, Carrier, Currency, CustomerId, Money, PaymentReference, Sku, TrackingNumber,
};

/// Where an order is in its lifecycle: Placed -> Paid -> Shipped -> Delivered, or
/// Cancelled from Placed or Paid, or Expired from Placed (its payment window passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Placed,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Placed => "placed",
            Status::Paid => "paid",
            Status::Shipped => "shipped",
            Status::Delivered => "delivered",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }

    /// Delivered, cancelled and expired orders never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Delivered | Status::Cancelled | Status::Expired
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub reference: PaymentReference,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: Carrier,
    pub tracking_number: TrackingNumber,
}

/// An order that exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub status: Status,
    pub lines: Vec<Line>,
    pub total: Money,
    pub shipping_address: Address,
    pub payment: Option<Payment>,
    pub shipment: Option<Shipment>,
    pub refund_due: Option<Money>,
    /// When the order expires unpaid (none for orders placed before deadlines existed).
    pub payment_due_at: Option<DateTime<Utc>>,
    /// The shipping promise, once paid (none for orders paid before deadlines existed).
    pub ship_by: Option<DateTime<Utc>>,
    /// Flagged once when paid and not shipped by `ship_by`.
    pub overdue: bool,
}

impl Order {
    pub fn line(&self, sku: &Sku) -> Option<&Line> {
        self.lines.iter().find(|line| &line.sku == sku)
    }
}

/// An order's state: its version (the number of events so far) and the order, once placed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    version: u64,
    order: Option<Order>,
}

impl OrderState {
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn order(&self) -> Option<&Order> {
        self.order.as_ref()
    }

    /// A state from its parts, as a stored form holds them (no more checked than the JSON
    /// form's deserialization checks them: each value's own rules).
    pub fn from_parts(version: u64, order: Option<Order>) -> Self {
        Self { version, order }
    }
}

/// An event that cannot follow the state it is applied to: the log is not one this
/// domain wrote, or was written by a different version of the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event_type} cannot follow version {version}: {reason}")]
pub struct EvolveError {
    pub event_type: &'static str,
    pub version: u64,
    pub reason: &'static str,
}

/// Folds one event into the state.
pub fn evolve(state: OrderState, event: &Event) -> Result<OrderState, EvolveError> {
    let fail = |reason| EvolveError {
        event_type: event.type_name(),
        version: state.version,
        reason,
    };
    let order = match (state.order.clone(), event) {
        (None, Event::OrderPlaced(placed)) => Order {
            customer_id: placed.customer_id.clone(),
            currency: placed.currency,
            status: Status::Placed,
            lines: placed.lines.clone(),
            total: placed.order_total,
            shipping_address: placed.shipping_address.clone(),
            payment: None,
            shipment: None,
            refund_due: None,
            payment_due_at: placed.payment_due_at,
            ship_by: None,
            overdue: false,
        },
        (None, _) => return Err(fail("the order does not exist")),
        (Some(_), Event::OrderPlaced(_)) => return Err(fail("the order already exists")),
        (Some(order), _) if order.status.is_terminal() => {
            return Err(fail("the order is in a terminal state"));
        }
        (Some(mut order), Event::LineAdded(added)) => {
            order.lines.push(added.line.clone());
            order.total = added.order_total;
            order
        }
        (Some(mut order), Event::LineRemoved(removed)) => {
            let before = order.lines.len();
            order.lines.retain(|line| line.sku != removed.line.sku);
            if order.lines.len() == before {
                return Err(fail("the order has no such line"));
            }
            order.total = removed.order_total;
            order
        }
        (Some(mut order), Event::ShippingAddressChanged(changed)) => {
            order.shipping_address = changed.shipping_address.clone();
            order
        }
        (Some(mut order), Event::PaymentConfirmed(paid)) => {
            order.status = Status::Paid;
            order.payment = Some(Payment {
                reference: paid.payment_reference.clone(),
                amount: paid.amount,
            });
            order.ship_by = paid.ship_by;
            order
        }
        (Some(mut order), Event::OrderShipped(shipped)) => {
            order.status = Status::Shipped;
            order.shipment = Some(Shipment {
                carrier: shipped.carrier.clone(),
                tracking_number: shipped.tracking_number.clone(),
            });
            order
        }
        (Some(mut order), Event::OrderDelivered(_)) => {
            order.status = Status::Delivered;
            order
        }
        (Some(mut order), Event::OrderCancelled(cancelled)) => {
            order.status = Status::Cancelled;
            order.refund_due = cancelled.refund_due;
            order
        }
        (Some(mut order), Event::OrderExpired(_)) => {
            if order.status != Status::Placed {
                return Err(fail("only a placed order expires"));
            }
            order.status = Status::Expired;
            order
        }
        (Some(mut order), Event::ShipmentOverdue(_)) => {
            if order.status != Status::Paid || order.overdue {
                return Err(fail("only a paid order not flagged yet is overdue"));
            }
            order.overdue = true;
            order
        }
    };
    Ok(OrderState {
        version: state.version + 1,
        order: Some(order),
    })
}

/// Folds a whole history, from the empty state.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<OrderState, EvolveError> {
    events.into_iter().try_fold(OrderState::default(), evolve)
}
