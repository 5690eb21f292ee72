//! AddLine and RemoveLine, and the line arithmetic PlaceOrder shares.

use super::{MAX_LINES, Order, Rejection, require_modifiable};
use crate::command::{AddLine, NewLine, RemoveLine};
use crate::event::{Event, Line, LineAdded, LineRemoved};
use crate::values::{Currency, Money};

pub(super) fn add(order: &Order, command: &AddLine) -> Result<Vec<Event>, Rejection> {
    require_modifiable(order, "AddLine")?;
    let new = &command.line;
    if order.line(&new.sku).is_some() {
        return Err(Rejection::LineAlreadyPresent {
            sku: new.sku.clone(),
        });
    }
    if order.lines.len() >= MAX_LINES {
        return Err(Rejection::TooManyLines { max: MAX_LINES });
    }
    let line = line_from(new, order.currency)?;
    let order_total = order
        .total
        .checked_add(line.line_total)
        .map_err(|_| Rejection::AmountTooLarge)?;
    Ok(vec![Event::LineAdded(LineAdded { line, order_total })])
}

pub(super) fn remove(order: &Order, command: &RemoveLine) -> Result<Vec<Event>, Rejection> {
    require_modifiable(order, "RemoveLine")?;
    let line = order
        .line(&command.sku)
        .ok_or_else(|| Rejection::LineNotFound {
            sku: command.sku.clone(),
        })?;
    if order.lines.len() == 1 {
        return Err(Rejection::LastLine);
    }
    let order_total = order
        .total
        .checked_sub(line.line_total)
        .map_err(|_| Rejection::AmountTooLarge)?;
    Ok(vec![Event::LineRemoved(LineRemoved {
        line: line.clone(),
        order_total,
    })])
}

/// A recorded line for a requested one, in the order's currency.
pub(super) fn line_from(new: &NewLine, currency: Currency) -> Result<Line, Rejection> {
    if new.unit_price.currency() != currency {
        return Err(Rejection::CurrencyMismatch {
            expected: currency,
            found: new.unit_price.currency(),
        });
    }
    let line_total = new
        .unit_price
        .times(new.quantity.get())
        .map_err(|_| Rejection::AmountTooLarge)?;
    Ok(Line {
        sku: new.sku.clone(),
        quantity: new.quantity,
        unit_price: new.unit_price,
        line_total,
    })
}

pub(super) fn sum(currency: Currency, lines: &[Line]) -> Result<Money, Rejection> {
    lines
        .iter()
        .try_fold(Money::zero(currency), |total, line| {
            total.checked_add(line.line_total)
        })
        .map_err(|_| Rejection::AmountTooLarge)
}
