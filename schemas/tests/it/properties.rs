//! Invariants that hold for any sequence of commands and deadlines fired.

use proptest::prelude::*;
use schemas::order::{OrderState, Status, deadline, decide, evolve};
use schemas::{Command, Event};

use crate::support::*;

/// A command to try, chosen without knowing the state; `Pay(None)` pays the exact total.
#[derive(Debug, Clone)]
enum Action {
    Place(Vec<(u8, i64, i64)>),
    Add(u8, i64, i64),
    Remove(u8),
    Address(bool),
    Pay(Option<i64>),
    Ship,
    Deliver,
    Cancel,
    /// The order's pending deadline, fired at its due time.
    Deadline,
}

fn action() -> impl Strategy<Value = Action> {
    let line = (0u8..6, 1i64..5, 0i64..10_000);
    prop_oneof![
        1 => prop::collection::vec(line.clone(), 0..4).prop_map(Action::Place),
        4 => line.prop_map(|(s, q, p)| Action::Add(s, q, p)),
        2 => (0u8..6).prop_map(Action::Remove),
        1 => any::<bool>().prop_map(Action::Address),
        2 => prop_oneof![Just(None), (0i64..50_000).prop_map(Some)].prop_map(Action::Pay),
        1 => Just(Action::Ship),
        1 => Just(Action::Deliver),
        1 => Just(Action::Cancel),
        1 => Just(Action::Deadline),
    ]
}

fn to_command(action: &Action, state: &OrderState) -> Command {
    let code = |s: &u8| format!("SKU-{s}");
    match action {
        Action::Place(lines) => place(
            lines
                .iter()
                .map(|(s, q, p)| line(&code(s), *q, *p))
                .collect(),
        ),
        Action::Add(s, q, p) => add_line(&code(s), *q, *p),
        Action::Remove(s) => remove_line(&code(s)),
        Action::Address(paris) => change_address(if *paris { "Paris" } else { "Berlin" }),
        Action::Pay(amount) => {
            let total = state.order().map_or(0, |o| o.total.amount_minor());
            pay(eur(amount.unwrap_or(total)))
        }
        Action::Ship => ship(),
        Action::Deliver => deliver(),
        Action::Cancel | Action::Deadline => cancel(),
    }
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Placed => 0,
        Status::Paid => 1,
        Status::Shipped => 2,
        Status::Delivered | Status::Cancelled | Status::Expired => 3,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_command_sequence_keeps_the_invariants(actions in prop::collection::vec(action(), 1..40)) {
        let mut state = OrderState::default();
        let mut log: Vec<Event> = Vec::new();
        for action in &actions {
            let command = to_command(action, &state);
            let before = state.order().map(|o| o.status);
            let decided = match action {
                Action::Deadline => deadline::pending(&state)
                    .and_then(|due| deadline::fire(&state, due, due.at))
                    .ok_or(()),
                _ => decide(&state, &command, &clock()).map_err(drop),
            };
            let Ok(events) = decided else {
                // A refused command changes nothing, so the state stays as it is.
                continue;
            };
            if let Some(status) = before {
                prop_assert!(!status.is_terminal(), "{action:?} accepted in terminal state {status}");
            }
            for event in &events {
                // Every decided event evolves without error and survives the wire format.
                state = evolve(state, event).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back = Event::from_payload(event.type_name(), event.schema_version(), event.to_payload());
                prop_assert_eq!(back.as_ref(), Ok(event));
                let bytes = Event::from_payload_json(event.type_name(), event.schema_version(), &event.to_payload_json());
                prop_assert_eq!(bytes.as_ref(), Ok(event));
            }
            log.extend(events);

            let order = state.order().expect("an accepted command leaves an order");
            let sum: i64 = order.lines.iter().map(|l| l.line_total.amount_minor()).sum();
            prop_assert_eq!(order.total.amount_minor(), sum, "total is the sum of the lines");
            prop_assert!(!order.lines.is_empty(), "an order keeps at least one line");
            prop_assert_eq!(state.version(), log.len() as u64, "version counts the events");
            if let Some(before) = before {
                prop_assert!(rank(order.status) >= rank(before), "status never moves backwards");
            }
        }
        let folded = schemas::order::fold(&log);
        prop_assert_eq!(folded.as_ref(), Ok(&state), "a fold of the log gives the same state");
    }
}
