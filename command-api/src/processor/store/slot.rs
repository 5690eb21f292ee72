//! One order as a processor holds it: its state and the answers it gave to recent commands,
//! and how one command changes it. Pure: no Kafka here.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use schemas::Event;
use schemas::envelope::EventSummary;
use schemas::order::{
    Context, EvolveError, Policy, check_expected_version, deadline, decide, evolve,
};
use schemas::values::OrderId;
use schemas::{CommandEnvelope, CommandOutcome, EventEnvelope, OrderState, Rejection};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::processor::store::deadlines;

/// How many recent command answers each order remembers for idempotent retries.
pub(crate) const RECENT_COMMANDS: usize = 64;

/// An answer already given, so a retry gets it again and writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recent {
    pub command_id: Uuid,
    /// `None` when rebuilt from events alone, where the request body is not known.
    pub fingerprint: Option<String>,
    pub outcome: CommandOutcome,
}

/// The state of one order and its idempotency memory. This is what a snapshot stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSlot {
    pub state: OrderState,
    pub recent: VecDeque<Recent>,
}

/// What caused events: a command, or a deadline under its derived id.
struct Cause {
    command_id: Uuid,
    correlation_id: Uuid,
    traceparent: Option<String>,
}

/// What handling a command produced: the answer, and the events to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub outcome: CommandOutcome,
    pub events: Vec<EventEnvelope>,
}

impl OrderSlot {
    /// Handles one command: a repeat gets its first answer; otherwise the domain decides,
    /// and accepted events are folded into the state and returned with their envelopes.
    /// Due times the command opens count from when it was received (`issued_at`), under
    /// `policy`.
    pub fn handle(
        &mut self,
        command: &CommandEnvelope,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Handled, EvolveError> {
        if !self.serves(command) {
            // Checked before the idempotency memory: another customer's retry of a key
            // must not read this order's answers either.
            return Ok(Handled {
                outcome: CommandOutcome::Rejected {
                    rejection: Rejection::OrderNotFound,
                },
                events: vec![],
            });
        }
        if let Some(previous) = self
            .recent
            .iter()
            .find(|r| r.command_id == command.command_id)
        {
            let outcome = match &previous.fingerprint {
                Some(fingerprint) if *fingerprint != command.fingerprint => {
                    CommandOutcome::IdempotencyKeyReused
                }
                _ => previous.outcome.clone(),
            };
            return Ok(Handled {
                outcome,
                events: vec![],
            });
        }
        // Stream time, per order: a deadline due by the time the command was received is
        // decided first (a payment received before it wins, however late it is decided).
        let mut events = Vec::new();
        if deadline::pending(&self.state).is_some_and(|due| due.at <= command.issued_at) {
            events = self
                .fire(command.order_id, command.issued_at, now)?
                .unwrap_or_default();
        }
        let decided =
            check_expected_version(&self.state, command.expected_version).and_then(|()| {
                let context = Context {
                    now: command.issued_at,
                    policy: *policy,
                };
                decide(&self.state, &command.command, &context)
            });
        let outcome = match decided {
            Err(rejection) => CommandOutcome::Rejected { rejection },
            Ok(decided) => {
                let cause = Cause {
                    command_id: command.command_id,
                    correlation_id: command.correlation_id,
                    traceparent: command.traceparent.clone(),
                };
                let envelopes = self.append(command.order_id, decided, cause, now)?;
                let summaries = envelopes.iter().map(summary).collect();
                events.extend(envelopes);
                CommandOutcome::Accepted {
                    version: self.state.version(),
                    events: summaries,
                }
            }
        };
        let handled = Handled { outcome, events };
        self.remember(Recent {
            command_id: command.command_id,
            fingerprint: Some(command.fingerprint.clone()),
            outcome: handled.outcome.clone(),
        });
        Ok(handled)
    }

    /// Fires the order's pending deadline if it is due at stream time `at` (its events
    /// dated `now`), under the command id derived from it: what it wrote, or `None` when it
    /// is not due, no longer applies, or was fired already.
    pub fn fire(
        &mut self,
        order_id: OrderId,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<EventEnvelope>>, EvolveError> {
        let Some(due) = deadline::pending(&self.state) else {
            return Ok(None);
        };
        let command_id = deadlines::command_id(order_id, due, self.state.version());
        if self.recent.iter().any(|r| r.command_id == command_id) {
            return Ok(None);
        }
        let Some(events) = deadline::fire(&self.state, due, at) else {
            return Ok(None);
        };
        let cause = Cause {
            command_id,
            correlation_id: command_id,
            traceparent: None,
        };
        let envelopes = self.append(order_id, events, cause, now)?;
        self.remember(Recent {
            command_id,
            fingerprint: None,
            outcome: CommandOutcome::Accepted {
                version: self.state.version(),
                events: envelopes.iter().map(summary).collect(),
            },
        });
        Ok(Some(envelopes))
    }

    /// Folds decided events into the state; their envelopes.
    fn append(
        &mut self,
        order_id: OrderId,
        events: Vec<Event>,
        cause: Cause,
        now: DateTime<Utc>,
    ) -> Result<Vec<EventEnvelope>, EvolveError> {
        let mut state = self.state.clone();
        let mut envelopes = Vec::with_capacity(events.len());
        for event in events {
            state = evolve(state, &event)?;
            envelopes.push(EventEnvelope {
                event_id: Uuid::now_v7(),
                order_id,
                order_version: state.version(),
                occurred_at: now,
                correlation_id: cause.correlation_id,
                causation_id: cause.command_id,
                traceparent: cause.traceparent.clone(),
                event,
            });
        }
        self.state = state;
        Ok(envelopes)
    }

    /// Whether the command's caller may command this order: a caller acting for one
    /// customer reaches only that customer's orders (and may place a new one).
    fn serves(&self, command: &CommandEnvelope) -> bool {
        match (&command.acting_for, self.state.order()) {
            (Some(customer), Some(order)) => order.customer_id == *customer,
            _ => true,
        }
    }

    /// Folds an event read back from the log (when rebuilding without a snapshot). An event
    /// that does not follow the order's version or does not fit its state changes nothing.
    pub fn replay(&mut self, envelope: &EventEnvelope) -> Result<(), EvolveError> {
        if envelope.order_version != self.state.version() + 1 {
            return Err(EvolveError {
                event_type: envelope.event.type_name(),
                version: self.state.version(),
                reason: "its version does not follow the order's",
            });
        }
        self.state = evolve(self.state.clone(), &envelope.event)?;
        match self.recent.back_mut() {
            Some(last) if last.command_id == envelope.causation_id => {
                if let CommandOutcome::Accepted { version, events } = &mut last.outcome {
                    *version = envelope.order_version;
                    events.push(summary(envelope));
                }
            }
            _ => self.remember(Recent {
                command_id: envelope.causation_id,
                fingerprint: None,
                outcome: CommandOutcome::Accepted {
                    version: envelope.order_version,
                    events: vec![summary(envelope)],
                },
            }),
        }
        Ok(())
    }

    fn remember(&mut self, recent: Recent) {
        if self.recent.len() == RECENT_COMMANDS {
            self.recent.pop_front();
        }
        self.recent.push_back(recent);
    }
}

fn summary(envelope: &EventEnvelope) -> EventSummary {
    EventSummary {
        id: envelope.event_id,
        type_name: envelope.event.type_name().to_owned(),
        version: envelope.order_version,
    }
}

/// Alice's order of one line, placed and then cancelled (a final state), with both
/// answers remembered.
#[cfg(test)]
impl OrderSlot {
    pub(crate) fn cancelled_for_tests() -> Self {
        use crate::processor::fixtures::{alice_cancels, alice_places_an_order, envelope};
        let mut slot = OrderSlot::default();
        let order_id = schemas::values::OrderId::from_uuid(uuid::Uuid::from_u128(5));
        for command in [alice_places_an_order(), alice_cancels()] {
            let envelope = envelope(order_id, command, None);
            slot.handle(&envelope, chrono::Utc::now(), &Policy::default())
                .expect("handled");
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use schemas::Rejection;
    use schemas::command::{CancelOrder, CancelReason, Command};
    use schemas::values::OrderId;

    use super::*;

    fn cancel(command_id: Uuid, reason: &str) -> CommandEnvelope {
        let order_id = OrderId::from_uuid(Uuid::nil());
        let command = Command::CancelOrder(CancelOrder {
            reason: CancelReason::parse(reason).expect("reason"),
        });
        CommandEnvelope {
            command_id,
            correlation_id: command_id,
            ..crate::processor::fixtures::envelope(order_id, command, None)
        }
    }

    #[test]
    fn a_repeated_command_gets_its_first_answer_and_a_reused_key_is_refused() {
        let mut slot = OrderSlot::default();
        let id = Uuid::now_v7();
        let first = slot
            .handle(&cancel(id, "no"), Utc::now(), &Policy::default())
            .expect("handled");
        assert_eq!(
            first.outcome,
            CommandOutcome::Rejected {
                rejection: Rejection::OrderNotFound
            }
        );
        let again = slot
            .handle(&cancel(id, "no"), Utc::now(), &Policy::default())
            .expect("handled");
        assert_eq!(again.outcome, first.outcome);
        let reused = slot
            .handle(&cancel(id, "other reason"), Utc::now(), &Policy::default())
            .expect("handled");
        assert_eq!(reused.outcome, CommandOutcome::IdempotencyKeyReused);
    }

    fn envelope(command: Command, acting_for: Option<&str>) -> CommandEnvelope {
        crate::processor::fixtures::envelope(OrderId::from_uuid(Uuid::nil()), command, acting_for)
    }

    #[test]
    fn a_caller_acting_for_another_customer_finds_no_order_not_even_a_remembered_answer() {
        let place = crate::processor::fixtures::alice_places_an_order();
        let mut slot = OrderSlot::default();
        let placed = envelope(place, Some("alice"));
        let first = slot
            .handle(&placed, Utc::now(), &Policy::default())
            .expect("handled");
        assert!(matches!(
            first.outcome,
            CommandOutcome::Accepted { version: 1, .. }
        ));
        // Bob replaying Alice's very command (same id) gets no answer of hers.
        let mut replayed = placed.clone();
        replayed.acting_for = Some(schemas::values::CustomerId::parse("bob").expect("id"));
        let refused = slot
            .handle(&replayed, Utc::now(), &Policy::default())
            .expect("handled");
        assert_eq!(
            refused.outcome,
            CommandOutcome::Rejected {
                rejection: Rejection::OrderNotFound
            }
        );
        let cancel = Command::CancelOrder(CancelOrder {
            reason: CancelReason::parse("not mine").expect("reason"),
        });
        let by_bob = slot
            .handle(
                &envelope(cancel.clone(), Some("bob")),
                Utc::now(),
                &Policy::default(),
            )
            .expect("handled");
        assert!(by_bob.events.is_empty());
        assert_eq!(slot.state.version(), 1);
        // Alice, and a service acting for no one, reach it.
        let by_alice = slot
            .handle(
                &envelope(cancel, Some("alice")),
                Utc::now(),
                &Policy::default(),
            )
            .expect("handled");
        assert!(matches!(
            by_alice.outcome,
            CommandOutcome::Accepted { version: 2, .. }
        ));
    }

    #[test]
    fn memory_is_bounded() {
        let mut slot = OrderSlot::default();
        for _ in 0..(RECENT_COMMANDS + 10) {
            slot.handle(
                &cancel(Uuid::now_v7(), "no"),
                Utc::now(),
                &Policy::default(),
            )
            .expect("handled");
        }
        assert_eq!(slot.recent.len(), RECENT_COMMANDS);
    }

    #[test]
    fn a_payment_received_before_the_due_time_wins_and_one_received_after_finds_the_order_expired()
    {
        use crate::processor::fixtures::{alice_places_an_order, envelope};
        use chrono::SubsecRound;
        let policy = Policy::default();
        let placed_at = Utc::now() - chrono::Duration::hours(1);
        // Due times are kept to the microsecond.
        let due = (placed_at + policy.payment_window).trunc_subsecs(6);
        let pay = |issued_at| {
            let command: Command = serde_json::from_value(serde_json::json!({
                "type": "ConfirmPayment",
                "data": { "payment_reference": "psp-1",
                          "amount": { "amount_minor": 100, "currency": "EUR" } }
            }))
            .expect("a ConfirmPayment");
            CommandEnvelope {
                issued_at,
                ..envelope(OrderId::from_uuid(Uuid::nil()), command, None)
            }
        };
        let placed = || {
            let mut slot = OrderSlot::default();
            let place = CommandEnvelope {
                issued_at: placed_at,
                ..envelope(
                    OrderId::from_uuid(Uuid::nil()),
                    alice_places_an_order(),
                    None,
                )
            };
            slot.handle(&place, placed_at, &policy).expect("placed");
            slot
        };
        // Decided an hour late, received a second before the window closed: it wins.
        let mut slot = placed();
        let second = chrono::Duration::seconds(1);
        let won = slot
            .handle(&pay(due - second), Utc::now(), &policy)
            .expect("handled");
        assert!(
            matches!(won.outcome, CommandOutcome::Accepted { .. }),
            "{won:?}"
        );
        assert_eq!(won.events.len(), 1);
        // Received a second after: the deadline is decided first, the payment is refused.
        let mut slot = placed();
        let lost = slot
            .handle(&pay(due + second), Utc::now(), &policy)
            .expect("handled");
        assert_eq!(
            lost.outcome,
            CommandOutcome::Rejected {
                rejection: Rejection::PaymentWindowClosed {
                    payment_due_at: due,
                    received_at: due + second,
                }
            }
        );
        let [expired] = lost.events.as_slice() else {
            panic!("{lost:?}")
        };
        assert_eq!(expired.event.type_name(), "dev.orderlog.order.expired");
        // Fired again (a retry, another owner): nothing more.
        assert_eq!(
            slot.fire(expired.order_id, due, Utc::now()).expect("fires"),
            None
        );
    }
}
