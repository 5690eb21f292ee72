//! An order to put in the read cache's tests, as the orders read model holds it.

use chrono::Utc;
use uuid::Uuid;

use crate::schema::order::{Order, OrderRow};

/// An order as the orders read model holds it at `version`, read with its (no) lines.
pub(crate) fn order(id: Uuid, version: i64) -> Order {
    let row = OrderRow {
        order_id: id,
        customer_id: "cust-1".to_owned(),
        currency: "EUR".to_owned(),
        status: "placed".to_owned(),
        total_minor: 100,
        line_count: 0,
        shipping_address: serde_json::Value::Null,
        payment_reference: None,
        paid_minor: None,
        carrier: None,
        tracking_number: None,
        cancel_reason: None,
        refund_due_minor: None,
        placed_at: Utc::now(),
        paid_at: None,
        shipped_at: None,
        delivered_at: None,
        cancelled_at: None,
        version,
        last_event_at: Utc::now(),
        payment_due_at: None,
        ship_by: None,
        overdue: false,
    };
    let mut order = Order::from_row(row, None).expect("an order");
    order.prefetched_lines = Some(Vec::new());
    order
}
