//! Given/when/then for each command: what it writes when accepted, and each rule it enforces.

use schemas::event::{LineAdded, LineRemoved, OrderCancelled};
use schemas::order::{Status, check_expected_version};
use schemas::{Event, Rejection};

use crate::support::*;

#[test]
fn placing_an_order_records_its_lines_and_total() {
    let events = given(&[]).when(&place_default()).expect("accepted");
    let [Event::OrderPlaced(placed)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(placed.order_total, eur(1250));
    assert_eq!(placed.lines.len(), 2);
    assert_eq!(placed.lines[0].line_total, eur(1000));
}

#[test]
fn placing_needs_lines_distinct_skus_one_currency_and_a_bounded_total() {
    assert_eq!(given(&[]).when(&place(vec![])), Err(Rejection::NoLines));
    assert_eq!(
        given(&[]).when(&place(vec![line("A-1", 1, 1), line("a-1", 2, 1)])),
        Err(Rejection::LineAlreadyPresent { sku: sku("A-1") })
    );
    let mut foreign = line("A-1", 1, 100);
    foreign.unit_price = usd(100);
    assert_eq!(
        outcome(&given(&[]).when(&place(vec![foreign]))),
        "currency_mismatch"
    );
    let too_many = (0..101).map(|i| line(&format!("S-{i}"), 1, 1)).collect();
    assert_eq!(
        given(&[]).when(&place(too_many)),
        Err(Rejection::TooManyLines { max: 100 })
    );
    let huge = vec![line("A-1", 10_000, 900_000_000_000_000)];
    assert_eq!(
        given(&[]).when(&place(huge)),
        Err(Rejection::AmountTooLarge)
    );
}

#[test]
fn placing_twice_is_refused() {
    let placed = history(&[place_default()]);
    assert_eq!(
        given(&placed).when(&place_default()),
        Err(Rejection::OrderAlreadyExists)
    );
}

#[test]
fn commands_on_an_unknown_order_are_refused() {
    for command in [
        add_line("C", 1, 1),
        remove_line("A-1"),
        pay(eur(1)),
        ship(),
        deliver(),
        cancel(),
    ] {
        assert_eq!(
            given(&[]).when(&command),
            Err(Rejection::OrderNotFound),
            "{}",
            command.name()
        );
    }
}

#[test]
fn adding_a_line_raises_the_total() {
    let placed = history(&[place_default()]);
    let events = given(&placed)
        .when(&add_line("C-3", 3, 100))
        .expect("accepted");
    let [Event::LineAdded(LineAdded { line, order_total })] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(line.line_total, eur(300));
    assert_eq!(*order_total, eur(1550));
}

#[test]
fn adding_a_present_sku_or_a_foreign_currency_is_refused() {
    let placed = history(&[place_default()]);
    assert_eq!(
        given(&placed).when(&add_line("A-1", 1, 1)),
        Err(Rejection::LineAlreadyPresent { sku: sku("A-1") })
    );
    let mut command = add_line("C-3", 1, 1);
    if let schemas::Command::AddLine(add) = &mut command {
        add.line.unit_price = usd(1);
    }
    assert_eq!(outcome(&given(&placed).when(&command)), "currency_mismatch");
}

#[test]
fn an_order_holds_at_most_a_hundred_lines() {
    let mut commands = vec![place(vec![line("S-0", 1, 1)])];
    commands.extend((1..100).map(|i| add_line(&format!("S-{i}"), 1, 1)));
    let full = history(&commands);
    assert_eq!(
        given(&full).when(&add_line("S-100", 1, 1)),
        Err(Rejection::TooManyLines { max: 100 })
    );
}

#[test]
fn removing_a_line_lowers_the_total_but_never_removes_the_last() {
    let placed = history(&[place_default()]);
    let events = given(&placed).when(&remove_line("b-2")).expect("accepted");
    let [Event::LineRemoved(LineRemoved { line, order_total })] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(line.sku, sku("B-2"));
    assert_eq!(*order_total, eur(1000));

    let one_left = history(&[place_default(), remove_line("B-2")]);
    assert_eq!(
        given(&one_left).when(&remove_line("A-1")),
        Err(Rejection::LastLine)
    );
    assert_eq!(
        given(&one_left).when(&remove_line("Z-9")),
        Err(Rejection::LineNotFound { sku: sku("Z-9") })
    );
}

#[test]
fn changing_the_address_to_the_same_one_writes_nothing() {
    let placed = history(&[place_default()]);
    assert_eq!(given(&placed).when(&change_address("Berlin")), Ok(vec![]));
    let events = given(&placed)
        .when(&change_address("Paris"))
        .expect("accepted");
    assert!(matches!(
        events.as_slice(),
        [Event::ShippingAddressChanged(_)]
    ));
}

#[test]
fn payment_must_match_the_total_exactly() {
    let placed = history(&[place_default()]);
    assert_eq!(
        given(&placed).when(&pay(eur(1249))),
        Err(Rejection::PaymentAmountMismatch {
            total: eur(1250),
            paid: eur(1249)
        })
    );
    assert_eq!(
        outcome(&given(&placed).when(&pay(usd(1250)))),
        "currency_mismatch"
    );
    let paid = given(&placed);
    assert!(matches!(
        paid.when(&pay(eur(1250))).as_deref(),
        Ok([Event::PaymentConfirmed(_)])
    ));
}

#[test]
fn lines_and_address_are_locked_once_paid() {
    let paid = history(&[place_default(), pay(eur(1250))]);
    for command in [
        add_line("C-3", 1, 1),
        remove_line("A-1"),
        change_address("Paris"),
    ] {
        assert_eq!(
            outcome(&given(&paid).when(&command)),
            "order_not_modifiable",
            "{}",
            command.name()
        );
    }
}

#[test]
fn the_lifecycle_runs_placed_paid_shipped_delivered() {
    let events = history(&[place_default(), pay(eur(1250)), ship(), deliver()]);
    let state = given(&events);
    let order = state.state().order().expect("order");
    assert_eq!(order.status, Status::Delivered);
    assert_eq!(state.state().version(), 4);
    assert_eq!(
        order.shipment.as_ref().map(|s| s.tracking_number.as_str()),
        Some("JD014600001234")
    );
}

#[test]
fn cancelling_a_paid_order_records_the_refund_due() {
    let paid = history(&[place_default(), pay(eur(1250))]);
    let events = given(&paid).when(&cancel()).expect("accepted");
    let [Event::OrderCancelled(OrderCancelled { refund_due, .. })] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(*refund_due, Some(eur(1250)));

    let placed = history(&[place_default()]);
    let events = given(&placed).when(&cancel()).expect("accepted");
    assert!(matches!(
        events.as_slice(),
        [Event::OrderCancelled(OrderCancelled {
            refund_due: None,
            ..
        })]
    ));
}

#[test]
fn an_expected_version_must_match() {
    let placed = given(&history(&[place_default()]));
    assert_eq!(check_expected_version(placed.state(), Some(1)), Ok(()));
    assert_eq!(check_expected_version(placed.state(), None), Ok(()));
    assert_eq!(
        check_expected_version(placed.state(), Some(3)),
        Err(Rejection::VersionMismatch {
            expected: 3,
            actual: 1
        })
    );
}

#[test]
fn every_rejection_has_a_code_a_status_and_a_message() {
    let rejection = Rejection::InvalidTransition {
        command: "ShipOrder".to_owned(),
        status: Status::Placed,
    };
    assert_eq!(rejection.code(), "invalid_transition");
    assert_eq!(rejection.http_status(), 409);
    assert_eq!(
        rejection.to_string(),
        "ShipOrder is not allowed while the order is placed"
    );
    let json = serde_json::to_value(&rejection).expect("json");
    assert_eq!(json["code"], "invalid_transition");
    assert_eq!(
        serde_json::from_value::<Rejection>(json).expect("back"),
        rejection
    );
}
