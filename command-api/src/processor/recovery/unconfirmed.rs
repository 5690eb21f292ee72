//! Snapshots of a transaction whose events never landed.
//!
//! Kafka can commit some partitions of a transaction and abort the others (`store::marks`).
//! With the events aborted and the snapshots committed, an order's snapshot holds a version
//! the log never got, with its command in the order's memory: a retry of that command would
//! be answered from the memory of events that do not exist, and the order's next event would
//! skip a version. Only a writer's last transaction before a takeover can be cut that way (a
//! later one by the same writer commits the earlier one's records with it, and a new writer
//! aborts whatever is open first), so the rebuild checks that one: every snapshot record
//! names its transaction and how many events that transaction wrote; when it wrote some, at
//! least one of its orders must have the event of its snapshot's version among the events
//! the catch-up reads (every event of that transaction is at or after the offset its records
//! name). When none has, the transaction's snapshot records and position are set aside, the
//! partition is rebuilt from the records before them, and the orders they named are written
//! again (or emptied, for an order the transaction created) with the next transaction.

use std::collections::HashSet;

use schemas::values::OrderId;

use crate::processor::store::marks::Marks;
use crate::processor::store::orders::Orders;

/// The partition's last transaction, as the snapshot records that name it describe it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LastTxn {
    pub number: Option<i64>,
    /// How many events it wrote (the most any of its records says).
    pub events: i64,
    /// The orders it wrote a snapshot of.
    pub orders: HashSet<OrderId>,
}

impl LastTxn {
    /// Takes a record into account: a higher transaction number starts a new last one. A
    /// later record of an order that is not the last transaction's (one without a number,
    /// written before transactions were numbered or by hand) makes that order's snapshot no
    /// longer the transaction's: it is not checked.
    pub(crate) fn observe(&mut self, marks: &Marks, order: Option<OrderId>) {
        match marks.txn {
            Some(number) if self.number.is_none_or(|last| number > last) => {
                *self = Self {
                    number: Some(number),
                    ..Self::default()
                };
            }
            Some(number) if self.number == Some(number) => {}
            _ => {
                if let Some(order) = order {
                    self.orders.remove(&order);
                }
                return;
            }
        }
        self.events = self.events.max(marks.txn_events.unwrap_or(0));
        self.orders.extend(order);
    }

    /// The number the partition's next transaction takes.
    pub(crate) fn next(&self) -> i64 {
        self.number.map_or(0, |number| number + 1)
    }

    /// The events the log must hold one of (each order of the transaction at its snapshot's
    /// version), when the transaction wrote events and named orders; `None` when there is
    /// nothing to check.
    pub(crate) fn expected(&self, orders: &Orders) -> Option<HashSet<(OrderId, u64)>> {
        if self.events == 0 || self.orders.is_empty() {
            return None;
        }
        let expected: HashSet<(OrderId, u64)> = self
            .orders
            .iter()
            .filter_map(|order| Some((*order, orders.version(order).ok()?)))
            .filter(|(_, version)| *version > 0)
            .collect();
        (!expected.is_empty()).then_some(expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processor::fixtures::{alice_places_an_order, envelope};
    use crate::processor::store::slot::OrderSlot;

    fn order(n: u128) -> OrderId {
        OrderId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn marks(txn: Option<i64>, events: i64) -> Marks {
        Marks {
            txn,
            txn_events: Some(events),
            ..Marks::default()
        }
    }

    #[test]
    fn the_highest_numbered_transaction_is_the_last_and_a_later_record_of_its_order_leaves_it() {
        let mut last = LastTxn::default();
        assert_eq!(last.next(), 0);
        last.observe(&marks(Some(3), 2), Some(order(1)));
        last.observe(&marks(Some(4), 0), Some(order(2)));
        last.observe(&marks(Some(4), 1), None);
        last.observe(&marks(None, 9), Some(order(3)));
        assert_eq!(last.number, Some(4));
        assert_eq!(last.events, 1);
        assert_eq!(last.orders, HashSet::from([order(2)]));
        last.observe(&marks(None, 0), Some(order(2)));
        assert!(
            last.orders.is_empty(),
            "a later record replaced its snapshot"
        );
        assert_eq!(last.next(), 5);
    }

    #[test]
    fn a_transaction_that_wrote_events_expects_its_orders_at_their_versions() {
        let placed = order(7);
        let mut slot = OrderSlot::default();
        slot.handle(
            &envelope(placed, alice_places_an_order(), None),
            chrono::Utc::now(),
            &Default::default(),
        )
        .expect("placed");
        let orders: Orders = [(placed, slot)].into_iter().collect();
        let mut last = LastTxn::default();
        last.observe(&marks(Some(0), 1), Some(placed));
        last.observe(&marks(Some(0), 1), Some(order(8)));
        assert_eq!(last.expected(&orders), Some(HashSet::from([(placed, 1)])));

        let mut quiet = LastTxn::default();
        quiet.observe(&marks(Some(0), 0), Some(placed));
        assert_eq!(quiet.expected(&orders), None, "wrote no events");
    }
}
