//! The pending deadlines of a partition's orders, by due time (`schemas::order::deadline`):
//! at most one per open order, so the index is as bounded as the orders themselves. It is
//! kept beside the orders, updated when a transaction commits, and rebuilt at takeover from
//! the snapshots' `orderlog-due` headers without parsing a single snapshot. Pure.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rdkafka::message::Headers;
use schemas::order::{Deadline, DeadlineKind};
use schemas::values::OrderId;
use uuid::Uuid;

/// The header of a snapshot record naming the order's pending deadline:
/// `payment_due@<microseconds since the epoch>` or `ship_by@...`; absent when none.
pub(crate) const DUE_HEADER: &str = "orderlog-due";

#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    by_time: BTreeSet<(DateTime<Utc>, OrderId)>,
    by_order: HashMap<OrderId, Deadline>,
}

impl Deadlines {
    /// The order's pending deadline is now `deadline` (none: it has none).
    pub(crate) fn set(&mut self, order_id: OrderId, deadline: Option<Deadline>) {
        if let Some(old) = self.by_order.remove(&order_id) {
            self.by_time.remove(&(old.at, order_id));
        }
        if let Some(deadline) = deadline {
            self.by_time.insert((deadline.at, order_id));
            self.by_order.insert(order_id, deadline);
        }
    }

    /// At most `max` deadlines due at or before `now`, earliest first.
    pub(crate) fn due(&self, now: DateTime<Utc>, max: usize) -> Vec<(OrderId, Deadline)> {
        self.by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(max)
            .filter_map(|(_, order)| Some((*order, *self.by_order.get(order)?)))
            .collect()
    }

    /// The earliest due time.
    pub(crate) fn next(&self) -> Option<DateTime<Utc>> {
        self.by_time.first().map(|(at, _)| *at)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_order.len()
    }
}

/// The command id a deadline is decided under: the same for the same order, deadline and
/// version it was set at, so firing it again is recognised as a repeat.
pub(crate) fn command_id(order_id: OrderId, deadline: Deadline, version: u64) -> Uuid {
    let name = format!(
        "{order_id}/{}/{}/{version}",
        deadline.kind.as_str(),
        deadline.at.timestamp_micros()
    );
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
}

/// The header value naming `deadline`.
pub(crate) fn header_value(deadline: Deadline) -> String {
    format!(
        "{}@{}",
        deadline.kind.as_str(),
        deadline.at.timestamp_micros()
    )
}

/// The deadline a snapshot record's headers name.
pub(crate) fn read_due<H: Headers>(headers: Option<&H>) -> Option<Deadline> {
    let header = headers?.iter().find(|h| h.key == DUE_HEADER)?;
    from_header(header.value?)
}

/// The deadline a header value names; `None` when it names none this version knows.
pub(crate) fn from_header(value: &[u8]) -> Option<Deadline> {
    let (kind, micros) = std::str::from_utf8(value).ok()?.split_once('@')?;
    let kind = match kind {
        "payment_due" => DeadlineKind::PaymentDue,
        "ship_by" => DeadlineKind::ShipBy,
        _ => return None,
    };
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some(Deadline { kind, at })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("time")
    }

    fn payment(seconds: i64) -> Deadline {
        Deadline {
            kind: DeadlineKind::PaymentDue,
            at: at(seconds),
        }
    }

    #[test]
    fn each_order_has_one_deadline_and_they_come_due_in_time_order() {
        let (a, b, c) = (
            OrderId::generate(),
            OrderId::generate(),
            OrderId::generate(),
        );
        let mut deadlines = Deadlines::default();
        deadlines.set(a, Some(payment(30)));
        deadlines.set(b, Some(payment(10)));
        deadlines.set(c, Some(payment(20)));
        assert_eq!(deadlines.next(), Some(at(10)));
        assert_eq!(
            deadlines.due(at(25), 10),
            vec![(b, payment(10)), (c, payment(20))]
        );
        assert_eq!(deadlines.due(at(25), 1), vec![(b, payment(10))], "bounded");
        // Paid: its payment deadline gives way to the shipping promise.
        let ship = Deadline {
            kind: DeadlineKind::ShipBy,
            at: at(10) + Duration::hours(48),
        };
        deadlines.set(b, Some(ship));
        deadlines.set(c, None);
        assert_eq!(deadlines.len(), 2);
        assert_eq!(deadlines.due(at(40), 10), vec![(a, payment(30))]);
    }

    #[test]
    fn the_header_round_trips_and_a_foreign_value_names_nothing() {
        let deadline = payment(5);
        assert_eq!(
            from_header(header_value(deadline).as_bytes()),
            Some(deadline)
        );
        for bad in [
            "",
            "payment_due",
            "soon@1",
            "ship_by@x",
            "ship_by@99999999999999999999",
        ] {
            assert_eq!(from_header(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn a_deadline_has_one_command_id_per_order_deadline_and_version() {
        let order = OrderId::generate();
        let id = command_id(order, payment(1), 3);
        assert_eq!(id, command_id(order, payment(1), 3));
        assert_ne!(id, command_id(order, payment(2), 3));
        assert_ne!(id, command_id(order, payment(1), 4));
        assert_ne!(id, command_id(OrderId::generate(), payment(1), 3));
    }
}
