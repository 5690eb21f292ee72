//! CancelOrder.

use super::{Order, Rejection, Status, require_status};
use crate::command::CancelOrder;
use crate::event::{Event, OrderCancelled};

pub(super) fn cancel(order: &Order, command: &CancelOrder) -> Result<Vec<Event>, Rejection> {
    require_status(order, &[Status::Placed, Status::Paid], "CancelOrder")?;
    let refund_due = order.payment.as_ref().map(|payment| payment.amount);
    Ok(vec![Event::OrderCancelled(OrderCancelled {
        reason: command.reason.clone(),
        refund_due,
    })])
}
