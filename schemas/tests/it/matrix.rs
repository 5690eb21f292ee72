//! Every command in every state: the complete table of what is allowed.

use crate::support::*;

#[test]
fn every_command_in_every_state() {
    let states: [(&str, Vec<schemas::Command>); 6] = [
        ("none", vec![]),
        ("placed", vec![place_default()]),
        ("paid", vec![place_default(), pay(eur(1250))]),
        ("shipped", vec![place_default(), pay(eur(1250)), ship()]),
        (
            "delivered",
            vec![place_default(), pay(eur(1250)), ship(), deliver()],
        ),
        ("cancelled", vec![place_default(), cancel()]),
    ];
    let commands = [
        ("PlaceOrder", place_default()),
        ("AddLine", add_line("C-3", 1, 100)),
        ("RemoveLine", remove_line("B-2")),
        ("ChangeShippingAddress", change_address("Paris")),
        ("ConfirmPayment", pay(eur(1250))),
        ("ShipOrder", ship()),
        ("DeliverOrder", deliver()),
        ("CancelOrder", cancel()),
    ];
    // Columns: none, placed, paid, shipped, delivered, cancelled.
    let expected: [[&str; 6]; 8] = [
        [
            "accepted",
            "order_already_exists",
            "order_already_exists",
            "order_already_exists",
            "order_already_exists",
            "order_already_exists",
        ],
        [
            "order_not_found",
            "accepted",
            "order_not_modifiable",
            "order_not_modifiable",
            "order_not_modifiable",
            "order_not_modifiable",
        ],
        [
            "order_not_found",
            "accepted",
            "order_not_modifiable",
            "order_not_modifiable",
            "order_not_modifiable",
            "order_not_modifiable",
        ],
        [
            "order_not_found",
            "accepted",
            "order_not_modifiable",
            "order_not_modifiable",
            "order_not_modifiable",
            "order_not_modifiable",
        ],
        [
            "order_not_found",
            "accepted",
            "invalid_transition",
            "invalid_transition",
            "invalid_transition",
            "invalid_transition",
        ],
        [
            "order_not_found",
            "invalid_transition",
            "accepted",
            "invalid_transition",
            "invalid_transition",
            "invalid_transition",
        ],
        [
            "order_not_found",
            "invalid_transition",
            "invalid_transition",
            "accepted",
            "invalid_transition",
            "invalid_transition",
        ],
        [
            "order_not_found",
            "accepted",
            "accepted",
            "invalid_transition",
            "invalid_transition",
            "invalid_transition",
        ],
    ];
    let mut mismatches = Vec::new();
    for ((name, command), row) in commands.iter().zip(expected) {
        for ((state_name, setup), want) in states.iter().zip(row) {
            let got = outcome(&given(&history(setup)).when(command));
            if got != want {
                mismatches.push(format!(
                    "{name} when {state_name}: expected {want}, got {got}"
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
