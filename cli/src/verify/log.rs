//! Checks of the log itself, whatever the read models say: each order's versions run
//! 1..n exactly once, no command caused two sets of events, no event id appears twice,
//! and the command results agree with the events (every event an accepted result names is
//! in the log; repeated results of one command give the same answer). Pure: fed record by
//! record.

use std::collections::{BTreeMap, HashMap, HashSet};

use schemas::{CommandOutcome, CommandResult, EventEnvelope};
use uuid::Uuid;

use super::compare::Difference;

#[derive(Debug, Default)]
pub struct LogCheck {
    /// Per order: the last version seen and the command that caused it.
    orders: HashMap<Uuid, (u64, Uuid)>,
    /// How many separate runs of events each command caused.
    runs: HashMap<Uuid, u32>,
    events: HashSet<Uuid>,
    /// Per command: the event ids its accepted results name, one list per answer seen.
    answers: BTreeMap<Uuid, Vec<Vec<Uuid>>>,
    differences: Vec<Difference>,
}

fn difference(
    key: impl ToString,
    field: &str,
    expected: impl ToString,
    actual: impl ToString,
) -> Difference {
    Difference {
        model: "log",
        key: key.to_string(),
        field: field.to_owned(),
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

impl LogCheck {
    /// One event, in log order within its partition (an order's events are in one partition).
    pub fn event(&mut self, event: &EventEnvelope) {
        let order = event.order_id.as_uuid();
        if !self.events.insert(event.event_id) {
            self.differences
                .push(difference(event.event_id, "event id", "once", "twice"));
        }
        let (last_version, last_command) =
            self.orders.get(&order).copied().unwrap_or((0, Uuid::nil()));
        if event.order_version != last_version + 1 {
            self.differences.push(difference(
                order,
                "version",
                last_version + 1,
                event.order_version,
            ));
        }
        if event.causation_id != last_command {
            let runs = self.runs.entry(event.causation_id).or_default();
            *runs += 1;
            if *runs == 2 {
                self.differences.push(difference(
                    event.causation_id,
                    "command applied",
                    "once",
                    format!("again at order {order} version {}", event.order_version),
                ));
            }
        }
        self.orders.insert(
            order,
            (event.order_version.max(last_version), event.causation_id),
        );
    }

    /// One command result. Results are read before the events, so every event a result
    /// names is committed by the time the events are read.
    pub fn result(&mut self, result: &CommandResult) {
        if let CommandOutcome::Accepted { events, .. } = &result.outcome {
            let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
            let answers = self.answers.entry(result.command_id).or_default();
            if !answers.contains(&ids) {
                answers.push(ids);
            }
        }
    }

    pub fn finish(mut self) -> Vec<Difference> {
        for (command, answers) in &self.answers {
            if answers.len() > 1 {
                self.differences.push(difference(
                    command,
                    "result",
                    "one answer",
                    format!("{} different accepted answers", answers.len()),
                ));
            }
            for id in answers.iter().flatten() {
                if !self.events.contains(id) {
                    self.differences.push(difference(
                        command,
                        "acknowledged event",
                        id,
                        "missing from the log",
                    ));
                }
            }
        }
        self.differences
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use schemas::envelope::EventSummary;
    use schemas::event::{Event, OrderDelivered};
    use schemas::values::OrderId;

    use super::*;

    fn event(order: OrderId, version: u64, command: Uuid) -> EventEnvelope {
        EventEnvelope {
            event_id: Uuid::now_v7(),
            order_id: order,
            order_version: version,
            occurred_at: Utc::now(),
            correlation_id: command,
            causation_id: command,
            traceparent: None,
            event: Event::OrderDelivered(OrderDelivered {}),
        }
    }

    fn accepted(command: Uuid, order: OrderId, events: &[&EventEnvelope]) -> CommandResult {
        CommandResult {
            command_id: command,
            order_id: order,
            fingerprint: String::new(),
            processed_at: Utc::now(),
            outcome: CommandOutcome::Accepted {
                version: events.last().map_or(0, |e| e.order_version),
                events: events
                    .iter()
                    .map(|e| EventSummary {
                        id: e.event_id,
                        type_name: e.event.type_name().to_owned(),
                        version: e.order_version,
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn a_clean_log_has_no_differences() {
        let order = OrderId::generate();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let (e1, e2, e3) = (event(order, 1, a), event(order, 2, a), event(order, 3, b));
        let mut check = LogCheck::default();
        check.result(&accepted(a, order, &[&e1, &e2]));
        check.result(&accepted(a, order, &[&e1, &e2]));
        check.result(&accepted(b, order, &[&e3]));
        for e in [&e1, &e2, &e3] {
            check.event(e);
        }
        assert_eq!(check.finish(), vec![]);
    }

    #[test]
    fn a_command_applied_twice_repeats_a_version_and_a_run() {
        let order = OrderId::generate();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut check = LogCheck::default();
        for e in [event(order, 1, a), event(order, 2, b), event(order, 2, b)] {
            check.event(&e);
        }
        let fields: Vec<String> = check.finish().into_iter().map(|d| d.field).collect();
        assert_eq!(fields, vec!["version"], "same run, version repeated");

        let mut check = LogCheck::default();
        for e in [event(order, 1, a), event(order, 2, b), event(order, 3, a)] {
            check.event(&e);
        }
        let fields: Vec<String> = check.finish().into_iter().map(|d| d.field).collect();
        assert_eq!(fields, vec!["command applied"]);
    }

    #[test]
    fn gaps_missing_acknowledged_events_and_two_answers_are_differences() {
        let order = OrderId::generate();
        let a = Uuid::now_v7();
        let (e1, e3) = (event(order, 1, a), event(order, 3, a));
        let lost = event(order, 2, a);
        let mut check = LogCheck::default();
        check.result(&accepted(a, order, &[&e1, &lost]));
        check.result(&accepted(a, order, &[&e1]));
        check.event(&e1);
        check.event(&e3);
        let mut fields: Vec<String> = check.finish().into_iter().map(|d| d.field).collect();
        fields.sort();
        assert_eq!(fields, vec!["acknowledged event", "result", "version"]);
    }
}
