//! PlaceOrder.

use std::collections::HashSet;

use super::deadline::{due, payment_window};
use super::lines::{line_from, sum};
use super::{Context, MAX_LINES, Rejection};
use crate::command::PlaceOrder;
use crate::event::{Event, OrderPlaced};

pub(super) fn place(command: &PlaceOrder, context: &Context) -> Result<Vec<Event>, Rejection> {
    let window = payment_window(command.payment_window_seconds, &context.policy).map_err(
        |(min_seconds, max_seconds)| Rejection::PaymentWindowOutOfBounds {
            min_seconds,
            max_seconds,
        },
    )?;
    if command.lines.is_empty() {
        return Err(Rejection::NoLines);
    }
    if command.lines.len() > MAX_LINES {
        return Err(Rejection::TooManyLines { max: MAX_LINES });
    }
    let mut skus = HashSet::new();
    if let Some(duplicate) = command.lines.iter().find(|line| !skus.insert(&line.sku)) {
        return Err(Rejection::LineAlreadyPresent {
            sku: duplicate.sku.clone(),
        });
    }
    let lines = command
        .lines
        .iter()
        .map(|line| line_from(line, command.currency))
        .collect::<Result<Vec<_>, _>>()?;
    let order_total = sum(command.currency, &lines)?;
    Ok(vec![Event::OrderPlaced(OrderPlaced {
        customer_id: command.customer_id.clone(),
        currency: command.currency,
        lines,
        shipping_address: command.shipping_address.clone(),
        order_total,
        payment_due_at: Some(due(context.now, window)),
    })])
}
