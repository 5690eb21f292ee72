//! One order as a processor holds it: its state and the answers it gave to recent commands,
//! and how one command changes it. Pure: no Kafka here.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use schemas::envelope::EventSummary;
use schemas::order::{Context, EvolveError, Policy, check_expected_version, decide, evolve};
use schemas::{CommandEnvelope, CommandOutcome, EventEnvelope, OrderState, Rejection};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
        let decided =
            check_expected_version(&self.state, command.expected_version).and_then(|()| {
                let context = Context {
                    now: command.issued_at,
                    policy: *policy,
                };
                decide(&self.state, &command.command, &context)
            });
        let handled = match decided {
            Err(rejection) => Handled {
                outcome: CommandOutcome::Rejected { rejection },
                events: vec![],
            },
            Ok(events) => {
                let mut state = self.state.clone();
                let mut envelopes = Vec::with_capacity(events.len());
                for event in events {
                    state = evolve(state, &event)?;
                    envelopes.push(EventEnvelope {
                        event_id: Uuid::now_v7(),
                        order_id: command.order_id,
                        order_version: state.version(),
                        occurred_at: now,
                        correlation_id: command.correlation_id,
                        causation_id: command.command_id,
                        traceparent: command.traceparent.clone(),
                        event,
                    });
                }
                self.state = state;
                let events = envelopes
                    .iter()
                    .map(|e| EventSummary {
                        id: e.event_id,
                        type_name: e.event.type_name().to_owned(),
                        version: e.order_version,
                    })
                    .collect();
                Handled {
                    outcome: CommandOutcome::Accepted {
                        version: self.state.version(),
                        events,
                    },
                    events: envelopes,
                }
            }
        };
        self.remember(Recent {
            command_id: command.command_id,
            fingerprint: Some(command.fingerprint.clone()),
            outcome: handled.outcome.clone(),
        });
        Ok(handled)
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
}
