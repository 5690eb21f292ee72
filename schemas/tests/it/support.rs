//! Builders for commands and events, and the given/when/then harness.

use schemas::command::{
    AddLine, CancelOrder, CancelReason, ChangeShippingAddress, ConfirmPayment, DeliverOrder,
    NewLine, PlaceOrder, RemoveLine, ShipOrder,
};
use schemas::order::{OrderState, decide, fold};
use schemas::values::{
    Address, Carrier, Currency, CustomerId, Money, PaymentReference, Quantity, Sku, TrackingNumber,
};
use schemas::{Command, Event};

pub(crate) fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").expect("EUR")).expect("amount")
}

pub(crate) fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::parse("USD").expect("USD")).expect("amount")
}

pub(crate) fn sku(value: &str) -> Sku {
    Sku::parse(value).expect("sku")
}

pub(crate) fn line(code: &str, quantity: i64, unit_minor: i64) -> NewLine {
    NewLine {
        sku: sku(code),
        quantity: Quantity::new(quantity).expect("quantity"),
        unit_price: eur(unit_minor),
    }
}

pub(crate) fn address(city: &str) -> Address {
    Address::new(
        "Ada Lovelace",
        "1 Analytical Way",
        None,
        city,
        "10115",
        "DE",
    )
    .expect("address")
}

pub(crate) fn place(lines: Vec<NewLine>) -> Command {
    Command::PlaceOrder(PlaceOrder {
        customer_id: CustomerId::parse("cust-1").expect("customer"),
        currency: Currency::parse("EUR").expect("EUR"),
        lines,
        shipping_address: address("Berlin"),
        payment_window_seconds: None,
    })
}

/// A two-line order totalling 2 x 500 + 1 x 250 = 1250 cents.
pub(crate) fn place_default() -> Command {
    place(vec![line("A-1", 2, 500), line("B-2", 1, 250)])
}

pub(crate) fn add_line(code: &str, quantity: i64, unit_minor: i64) -> Command {
    Command::AddLine(AddLine {
        line: line(code, quantity, unit_minor),
    })
}

pub(crate) fn remove_line(code: &str) -> Command {
    Command::RemoveLine(RemoveLine { sku: sku(code) })
}

pub(crate) fn change_address(city: &str) -> Command {
    Command::ChangeShippingAddress(ChangeShippingAddress {
        shipping_address: address(city),
    })
}

pub(crate) fn pay(amount: Money) -> Command {
    Command::ConfirmPayment(ConfirmPayment {
        payment_reference: PaymentReference::parse("pay-123").expect("reference"),
        amount,
    })
}

pub(crate) fn ship() -> Command {
    Command::ShipOrder(ShipOrder {
        carrier: Carrier::parse("DHL").expect("carrier"),
        tracking_number: TrackingNumber::parse("JD0146 0000 1234").expect("tracking"),
    })
}

pub(crate) fn deliver() -> Command {
    Command::DeliverOrder(DeliverOrder {})
}

pub(crate) fn cancel() -> Command {
    Command::CancelOrder(CancelOrder {
        reason: CancelReason::parse("customer changed their mind").expect("reason"),
    })
}

/// When the tests' commands are received: a fixed time, under the default windows.
pub(crate) fn clock() -> schemas::order::Context {
    schemas::order::Context::at(
        chrono::DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc),
    )
}

/// The events that commands produce in sequence, from an empty order; panics if one is refused.
pub(crate) fn history(commands: &[Command]) -> Vec<Event> {
    let mut state = OrderState::default();
    let mut events = Vec::new();
    for command in commands {
        let decided = decide(&state, command, &clock())
            .unwrap_or_else(|r| panic!("{} refused: {r}", command.name()));
        state = decided
            .iter()
            .try_fold(state, schemas::evolve)
            .expect("evolve");
        events.extend(decided);
    }
    events
}

/// Given these events, when this command: the decision.
pub(crate) struct Given(OrderState);

pub(crate) fn given(events: &[Event]) -> Given {
    Given(fold(events).expect("given events fold"))
}

impl Given {
    pub(crate) fn when(&self, command: &Command) -> Result<Vec<Event>, schemas::Rejection> {
        decide(&self.0, command, &clock())
    }

    pub(crate) fn state(&self) -> &OrderState {
        &self.0
    }
}

/// The rejection code of a decision, or "accepted".
pub(crate) fn outcome(decision: &Result<Vec<Event>, schemas::Rejection>) -> &'static str {
    match decision {
        Ok(_) => "accepted",
        Err(rejection) => rejection.code(),
    }
}
