//! ConfirmPayment.

use super::{Context, Order, Rejection, Status, require_status};
use crate::command::ConfirmPayment;
use crate::event::{Event, PaymentConfirmed};

pub(super) fn confirm(
    order: &Order,
    command: &ConfirmPayment,
    context: &Context,
) -> Result<Vec<Event>, Rejection> {
    if let (Status::Expired, Some(payment_due_at)) = (order.status, order.payment_due_at) {
        return Err(Rejection::PaymentWindowClosed {
            payment_due_at,
            received_at: context.now,
        });
    }
    require_status(order, &[Status::Placed], "ConfirmPayment")?;
    if command.amount.currency() != order.currency {
        return Err(Rejection::CurrencyMismatch {
            expected: order.currency,
            found: command.amount.currency(),
        });
    }
    if command.amount != order.total {
        return Err(Rejection::PaymentAmountMismatch {
            total: order.total,
            paid: command.amount,
        });
    }
    Ok(vec![Event::PaymentConfirmed(PaymentConfirmed {
        payment_reference: command.payment_reference.clone(),
        amount: command.amount,
        ship_by: Some(super::deadline::due(
            context.now,
            context.policy.ship_within,
        )),
    })])
}
