//! Deadlines against every state: which one is pending, what firing it does before, at and
//! after its due time, the payment window a PlaceOrder may ask for, and the rule for orders
//! placed before deadlines existed.

use chrono::Duration;
use schemas::Event;
use schemas::command::Command;
use schemas::order::deadline::{self, Deadline, DeadlineKind};
use schemas::order::{Context, OrderState, Policy, Status, decide, evolve, fold};
use schemas::values::WindowSeconds;

use crate::support::*;

/// The state after `events`, and after the order's pending deadline fired at its time.
fn fired(events: &[Event]) -> (OrderState, Option<Deadline>, Option<Vec<Event>>) {
    let state = fold(events).expect("fold");
    let due = deadline::pending(&state);
    let fired = due.and_then(|d| deadline::fire(&state, d, d.at));
    (state, due, fired)
}

#[test]
fn every_state_has_the_deadline_its_status_calls_for() {
    let at = clock().now;
    let window = Policy::default().payment_window;
    let promise = Policy::default().ship_within;
    let placed = history(&[place_default()]);
    let paid = history(&[place_default(), pay(eur(1250))]);
    let mut overdue = paid.clone();
    overdue.extend(fired(&paid).2.expect("flagged"));
    let mut expired = placed.clone();
    expired.extend(fired(&placed).2.expect("expired"));
    let cases: [(&str, Vec<Event>, Option<(DeadlineKind, Duration)>); 8] = [
        ("none", vec![], None),
        ("placed", placed, Some((DeadlineKind::PaymentDue, window))),
        ("paid", paid, Some((DeadlineKind::ShipBy, promise))),
        ("overdue", overdue, None),
        (
            "shipped",
            history(&[place_default(), pay(eur(1250)), ship()]),
            None,
        ),
        (
            "delivered",
            history(&[place_default(), pay(eur(1250)), ship(), deliver()]),
            None,
        ),
        ("cancelled", history(&[place_default(), cancel()]), None),
        ("expired", expired, None),
    ];
    for (name, events, expected) in cases {
        let (state, due, fired) = fired(&events);
        assert_eq!(
            due.map(|d| (d.kind, d.at - at)),
            expected,
            "{name}: the pending deadline"
        );
        match (name, fired.as_deref()) {
            ("placed", Some([Event::OrderExpired(expiry)])) => {
                assert_eq!(expiry.payment_due_at, at + window);
                let after =
                    evolve(state.clone(), &Event::OrderExpired(expiry.clone())).expect("evolves");
                assert_eq!(after.order().map(|o| o.status), Some(Status::Expired));
            }
            ("paid", Some([Event::ShipmentOverdue(overdue)])) => {
                assert_eq!(overdue.ship_by, at + promise);
            }
            (_, None) => assert!(expected.is_none(), "{name}: nothing to fire"),
            (name, other) => panic!("{name}: fired {other:?}"),
        }
    }
}

#[test]
fn a_deadline_fires_only_when_due_and_only_while_it_applies() {
    let state = fold(&history(&[place_default()])).expect("fold");
    let due = deadline::pending(&state).expect("a payment window");
    let second = Duration::seconds(1);
    assert_eq!(deadline::fire(&state, due, due.at - second), None, "early");
    assert!(
        deadline::fire(&state, due, due.at).is_some(),
        "at the due time"
    );
    assert!(
        deadline::fire(&state, due, due.at + second).is_some(),
        "late"
    );
    let other_time = Deadline {
        at: due.at + second,
        ..due
    };
    assert_eq!(
        deadline::fire(&state, other_time, due.at + second * 2),
        None,
        "another due time than the order's"
    );
    // Paid before the window closed: the payment won, the expiry does nothing.
    let paid = fold(&history(&[place_default(), pay(eur(1250))])).expect("fold");
    assert_eq!(deadline::fire(&paid, due, due.at + second), None);
    // Fired twice: the second finds the order expired and does nothing.
    let expired = deadline::fire(&state, due, due.at)
        .expect("fires")
        .iter()
        .try_fold(state, evolve)
        .expect("evolves");
    assert_eq!(deadline::fire(&expired, due, due.at), None);
}

#[test]
fn an_expired_order_refuses_every_command() {
    let mut events = history(&[place_default()]);
    events.extend(fired(&events).2.expect("expired"));
    let state = fold(&events).expect("fold");
    for command in [
        place_default(),
        add_line("C-3", 1, 100),
        remove_line("B-2"),
        change_address("Paris"),
        pay(eur(1250)),
        ship(),
        deliver(),
        cancel(),
    ] {
        let refused = decide(&state, &command, &clock()).expect_err("refused");
        let code = refused.code();
        assert!(
            [
                "order_already_exists",
                "order_not_modifiable",
                "invalid_transition",
                "payment_window_closed"
            ]
            .contains(&code),
            "{}: {code}",
            command.name()
        );
    }
}

#[test]
fn a_payment_for_an_expired_order_says_when_its_window_closed_and_when_the_payment_came() {
    let mut events = history(&[place_default()]);
    let (_, due, expiry) = fired(&events);
    let due = due.expect("a payment deadline").at;
    events.extend(expiry.expect("expired"));
    let state = fold(&events).expect("fold");
    let received = Context::at(due + Duration::seconds(2));
    let refused = decide(&state, &pay(eur(1250)), &received).expect_err("refused");
    assert_eq!(
        refused,
        schemas::Rejection::PaymentWindowClosed {
            payment_due_at: due,
            received_at: due + Duration::seconds(2),
        }
    );
    assert_eq!(refused.code(), "payment_window_closed");
    assert_eq!(refused.http_status(), 409);
}

#[test]
fn a_place_order_may_ask_for_a_shorter_window_within_bounds() {
    let asking = |seconds: u32| {
        let Command::PlaceOrder(mut place) = place_default() else {
            unreachable!("a PlaceOrder")
        };
        place.payment_window_seconds =
            Some(WindowSeconds::new(i64::from(seconds)).expect("a window"));
        decide(
            &OrderState::default(),
            &Command::PlaceOrder(place),
            &clock(),
        )
    };
    for seconds in [60, 900, 1_800] {
        let events = asking(seconds).expect("within bounds");
        let Some(Event::OrderPlaced(placed)) = events.first() else {
            panic!("{events:?}")
        };
        assert_eq!(
            placed.payment_due_at,
            Some(clock().now + Duration::seconds(i64::from(seconds)))
        );
    }
    assert!(WindowSeconds::new(59).is_err() && WindowSeconds::new(0).is_err());
    for seconds in [1_801, 86_400] {
        let refused = asking(seconds).expect_err("out of bounds");
        assert_eq!(refused.code(), "payment_window_out_of_bounds");
        assert_eq!(refused.http_status(), 422);
    }
    // A platform window shorter than a minute bounds the asked one by itself.
    let short = Context {
        policy: Policy {
            payment_window: Duration::seconds(30),
            ..Policy::default()
        },
        ..clock()
    };
    let events = decide(&OrderState::default(), &place_default(), &short).expect("placed");
    let Some(Event::OrderPlaced(placed)) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(
        placed.payment_due_at,
        Some(clock().now + Duration::seconds(30))
    );
}

#[test]
fn orders_placed_or_paid_before_deadlines_existed_never_expire_nor_fall_overdue() {
    let v1 = serde_json::json!({
        "customer_id": "cust-1", "currency": "EUR",
        "lines": [{ "sku": "A-1", "quantity": 1,
                    "unit_price": { "amount_minor": 500, "currency": "EUR" },
                    "line_total": { "amount_minor": 500, "currency": "EUR" } }],
        "shipping_address": { "name": "Ada", "line1": "1 Way", "city": "Berlin",
                              "postal_code": "10115", "country": "DE" },
        "order_total": { "amount_minor": 500, "currency": "EUR" }
    });
    let placed = Event::from_payload("dev.orderlog.order.placed", 1, v1).expect("upcast");
    let state = fold(std::slice::from_ref(&placed)).expect("fold");
    assert_eq!(
        deadline::pending(&state),
        None,
        "no window: it never expires"
    );
    let paid_v2 = serde_json::json!({
        "payment_reference": "pay-1", "amount": { "amount_minor": 500, "currency": "EUR" }
    });
    let paid =
        Event::from_payload("dev.orderlog.order.payment_confirmed", 2, paid_v2).expect("upcast");
    let state = fold(&[placed, paid]).expect("fold");
    assert_eq!(deadline::pending(&state), None, "no promise: never overdue");
}

#[test]
fn durations_are_read_in_their_units_and_bounded() {
    let parsed = |text| deadline::parse_duration(text);
    assert_eq!(parsed("90s"), Ok(Duration::seconds(90)));
    assert_eq!(parsed("15m"), Ok(Duration::minutes(15)));
    assert_eq!(parsed("48h"), Ok(Duration::hours(48)));
    assert_eq!(parsed("2d"), Ok(Duration::days(2)));
    for bad in [
        "",
        "15",
        "m",
        "0s",
        "-5m",
        "366d",
        "1w",
        "99999999999999999999d",
        "1.5h",
    ] {
        assert!(parsed(bad).is_err(), "{bad:?}");
    }
}
