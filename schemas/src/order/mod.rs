//! The order aggregate as pure functions: [`decide`] turns a command and the current state
//! into events or a [`Rejection`]; [`evolve`] folds an event into the state.

mod address;
mod cancel;
pub mod deadline;
mod fulfilment;
mod lines;
pub mod packed;
mod payment;
mod place;
mod rejection;
mod state;

pub use deadline::{Context, Deadline, DeadlineKind, Policy};
pub use rejection::Rejection;
pub use state::{EvolveError, Order, OrderState, Payment, Shipment, Status, evolve, fold};

use crate::command::Command;
use crate::event::Event;

/// The most lines an order may hold.
pub const MAX_LINES: usize = 100;

/// Decides what `command`, received at `context.now`, means for an order in `state`: the
/// events to append (possibly none, when the command asks for what is already true) or why
/// it is refused. The time sets the due times a command opens (`deadline.rs`).
pub fn decide(
    state: &OrderState,
    command: &Command,
    context: &Context,
) -> Result<Vec<Event>, Rejection> {
    let Some(order) = state.order() else {
        return match command {
            Command::PlaceOrder(place) => place::place(place, context),
            _ => Err(Rejection::OrderNotFound),
        };
    };
    match command {
        Command::PlaceOrder(_) => Err(Rejection::OrderAlreadyExists),
        Command::AddLine(add) => lines::add(order, add),
        Command::RemoveLine(remove) => lines::remove(order, remove),
        Command::ChangeShippingAddress(change) => address::change(order, change),
        Command::ConfirmPayment(confirm) => payment::confirm(order, confirm, context),
        Command::ShipOrder(ship) => fulfilment::ship(order, ship),
        Command::DeliverOrder(_) => fulfilment::deliver(order),
        Command::CancelOrder(cancel) => cancel::cancel(order, cancel),
    }
}

/// Refuses a command whose caller expected another version (`If-Match`).
pub fn check_expected_version(state: &OrderState, expected: Option<u64>) -> Result<(), Rejection> {
    match expected {
        Some(expected) if expected != state.version() => Err(Rejection::VersionMismatch {
            expected,
            actual: state.version(),
        }),
        _ => Ok(()),
    }
}

/// Refuses a command that changes lines or address once the order has left `Placed`.
fn require_modifiable(order: &Order, command: &'static str) -> Result<(), Rejection> {
    if order.status == Status::Placed {
        Ok(())
    } else {
        Err(Rejection::NotModifiable {
            command: command.to_owned(),
            status: order.status,
        })
    }
}

/// Refuses a lifecycle step the order's status does not allow.
fn require_status(
    order: &Order,
    allowed: &[Status],
    command: &'static str,
) -> Result<(), Rejection> {
    if allowed.contains(&order.status) {
        Ok(())
    } else {
        Err(Rejection::InvalidTransition {
            command: command.to_owned(),
            status: order.status,
        })
    }
}
