//! ShipOrder and DeliverOrder.

use super::{Order, Rejection, Status, require_status};
use crate::command::ShipOrder;
use crate::event::{Event, OrderDelivered, OrderShipped};

pub(super) fn ship(order: &Order, command: &ShipOrder) -> Result<Vec<Event>, Rejection> {
    require_status(order, &[Status::Paid], "ShipOrder")?;
    Ok(vec![Event::OrderShipped(OrderShipped {
        carrier: command.carrier.clone(),
        tracking_number: command.tracking_number.clone(),
    })])
}

pub(super) fn deliver(order: &Order) -> Result<Vec<Event>, Rejection> {
    require_status(order, &[Status::Shipped], "DeliverOrder")?;
    Ok(vec![Event::OrderDelivered(OrderDelivered {})])
}
