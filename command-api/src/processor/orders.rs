//! A partition's orders as its processor holds them. Orders rebuilt from snapshots stay as
//! the snapshot's bytes until a command touches them: taking a partition over then costs
//! reading its snapshots, not parsing them (most of the time of a takeover, and most
//! orders of a large partition never see another command). Pure: no Kafka here.

use std::collections::HashMap;

use schemas::values::OrderId;

use super::slot::OrderSlot;
use super::snapshots;

enum Stored {
    /// A snapshot record's value, parsed on the order's first command.
    Snapshot(Box<[u8]>),
    Loaded(Box<OrderSlot>),
}

/// The orders of one partition, by id.
#[derive(Default)]
pub struct Orders {
    by_id: HashMap<OrderId, Stored>,
}

/// A snapshot whose header promised the current format and whose value does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the snapshot of order {0} is unreadable")]
pub struct Unreadable(pub OrderId);

impl Orders {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Keeps a snapshot record's value for the order (a later one replaces an earlier one).
    pub fn insert_snapshot(&mut self, order_id: OrderId, value: Box<[u8]>) {
        self.by_id.insert(order_id, Stored::Snapshot(value));
    }

    pub fn insert(&mut self, order_id: OrderId, slot: OrderSlot) {
        self.by_id.insert(order_id, Stored::Loaded(Box::new(slot)));
    }

    pub fn remove(&mut self, order_id: &OrderId) {
        self.by_id.remove(order_id);
    }

    /// Parses the order's snapshot if it is still unparsed. On error the snapshot stays
    /// until the caller puts the order's state in its place ([`Orders::insert`]): the order
    /// is never mistaken for an unknown one.
    pub fn load(&mut self, order_id: &OrderId) -> Result<(), Unreadable> {
        let Some(stored) = self.by_id.get_mut(order_id) else {
            return Ok(());
        };
        let Stored::Snapshot(value) = stored else {
            return Ok(());
        };
        let slot = snapshots::decode(value).ok_or(Unreadable(*order_id))?;
        *stored = Stored::Loaded(Box::new(slot));
        Ok(())
    }

    /// A loaded order; `None` when the order is unknown or not loaded yet.
    pub fn get(&self, order_id: &OrderId) -> Option<&OrderSlot> {
        match self.by_id.get(order_id) {
            Some(Stored::Loaded(slot)) => Some(slot),
            _ => None,
        }
    }

    /// The order's slot, a new one when the order is unknown; `None` when its snapshot is
    /// not loaded yet (see [`Orders::load`]).
    pub fn get_or_default(&mut self, order_id: OrderId) -> Option<&mut OrderSlot> {
        match self
            .by_id
            .entry(order_id)
            .or_insert_with(|| Stored::Loaded(Box::default()))
        {
            Stored::Loaded(slot) => Some(slot),
            Stored::Snapshot(_) => None,
        }
    }

    /// Every order parsed: for tests and benchmarks that compare states. `None` when a
    /// snapshot is unreadable.
    pub fn into_loaded(self) -> Option<HashMap<OrderId, OrderSlot>> {
        self.by_id
            .into_iter()
            .map(|(id, stored)| match stored {
                Stored::Loaded(slot) => Some((id, *slot)),
                Stored::Snapshot(value) => snapshots::decode(&value).map(|slot| (id, slot)),
            })
            .collect()
    }
}

impl std::fmt::Debug for Orders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orders")
            .field("orders", &self.by_id.len())
            .finish()
    }
}

impl FromIterator<(OrderId, OrderSlot)> for Orders {
    fn from_iter<T: IntoIterator<Item = (OrderId, OrderSlot)>>(slots: T) -> Self {
        Self {
            by_id: slots
                .into_iter()
                .map(|(id, slot)| (id, Stored::Loaded(Box::new(slot))))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn id(n: u128) -> OrderId {
        OrderId::from_uuid(Uuid::from_u128(n))
    }

    fn placed_slot() -> OrderSlot {
        let mut slot = OrderSlot::default();
        slot.recent.push_back(super::super::slot::Recent {
            command_id: Uuid::from_u128(7),
            fingerprint: Some("f".to_owned()),
            outcome: schemas::CommandOutcome::IdempotencyKeyReused,
        });
        slot
    }

    #[test]
    fn a_snapshot_is_parsed_on_first_load_and_the_latest_one_wins() {
        let mut orders = Orders::default();
        orders.insert_snapshot(id(1), snapshots::encode(&OrderSlot::default()).0.into());
        orders.insert_snapshot(id(1), snapshots::encode(&placed_slot()).0.into());
        assert_eq!(
            orders.get(&id(1)),
            None,
            "not parsed before a command needs it"
        );
        assert!(orders.get_or_default(id(1)).is_none());
        orders.load(&id(1)).expect("readable");
        assert_eq!(orders.get(&id(1)), Some(&placed_slot()));
        assert_eq!(orders.get_or_default(id(1)), Some(&mut placed_slot()));
    }

    #[test]
    fn an_unreadable_snapshot_is_reported_and_kept_until_replaced() {
        let mut orders = Orders::default();
        orders.insert_snapshot(id(2), b"{\"format\":2".to_vec().into());
        assert_eq!(orders.load(&id(2)), Err(Unreadable(id(2))));
        assert!(
            orders.get_or_default(id(2)).is_none(),
            "never taken for an unknown order"
        );
        orders.insert(id(2), placed_slot());
        assert_eq!(orders.load(&id(2)), Ok(()));
        assert_eq!(orders.get(&id(2)), Some(&placed_slot()));
        assert_eq!(
            orders.load(&id(4)),
            Ok(()),
            "unknown orders load as nothing"
        );
    }

    #[test]
    fn unknown_orders_start_empty() {
        let mut orders = Orders::default();
        assert_eq!(
            orders.get_or_default(id(3)),
            Some(&mut OrderSlot::default())
        );
        assert_eq!(orders.len(), 1);
        orders.remove(&id(3));
        assert!(orders.into_loaded().expect("all readable").is_empty());
    }
}
