//! A partition's orders as its processor holds them: between commands, each as its
//! snapshot's bytes (format 3 is compact: docs/performance.md, "Processor memory"), parsed
//! when a command touches the order and encoded again when its transaction commits; orders
//! in a final state only as a place in the partition's [`FinalStore`] on disk. Taking a
//! partition over then costs reading its snapshots, not parsing them (most orders of a
//! large partition never see another command). No Kafka here.

use std::collections::HashMap;
use std::path::PathBuf;

use schemas::order::{Deadline, deadline};
use schemas::values::OrderId;

use crate::processor::store::compact;
use crate::processor::store::deadlines::Deadlines;
use crate::processor::store::final_store::{self, FinalStore};
use crate::processor::store::slot::OrderSlot;
use crate::processor::store::snapshots;

enum Stored {
    /// A snapshot's value, parsed on the order's next command.
    Snapshot(Box<[u8]>),
    /// The snapshot of an order in a final state, in the final store.
    Final(final_store::Stored),
    /// Parsed, while a batch works on it.
    Loaded(Box<OrderSlot>),
}

/// Where the final store is, once the first final order needs it.
enum Finals {
    Closed(PathBuf),
    Open(FinalStore),
    /// It could not be opened: final orders stay in memory.
    Unavailable,
}

/// The orders of one partition, by id, and their pending deadlines.
pub(crate) struct Orders {
    by_id: HashMap<OrderId, Stored>,
    finals: Finals,
    /// Kept with the orders: set when an order is kept as its snapshot or put back parsed,
    /// cleared when it is removed.
    deadlines: Deadlines,
}

impl Default for Orders {
    /// Orders whose final store goes in the temporary directory (`TMPDIR`, or `/tmp`).
    fn default() -> Self {
        Self::in_dir(std::env::temp_dir())
    }
}

/// A snapshot whose header promised a format this version reads and whose value does not
/// parse, or an order the final store could not give back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the snapshot of order {0} is unreadable")]
pub(crate) struct Unreadable(pub OrderId);

impl Orders {
    /// Orders whose final store goes in `dir`.
    pub(crate) fn in_dir(dir: PathBuf) -> Self {
        Self {
            by_id: HashMap::new(),
            finals: Finals::Closed(dir),
            deadlines: Deadlines::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// How many orders are in the final store, and the store's size in bytes.
    pub(crate) fn finals(&self) -> (usize, u64) {
        let count = self
            .by_id
            .values()
            .filter(|stored| matches!(stored, Stored::Final(_)))
            .count();
        let bytes = match &self.finals {
            Finals::Open(store) => store.bytes(),
            _ => 0,
        };
        (count, bytes)
    }

    /// The pending deadlines of the orders held.
    pub(crate) fn deadlines(&self) -> &Deadlines {
        &self.deadlines
    }

    /// Keeps a snapshot's value for the order (a later one replaces an earlier one): in the
    /// final store when the value says the order is final, in memory otherwise. `due`: the
    /// order's pending deadline, as the snapshot's record names it (`deadlines::DUE_HEADER`).
    pub(crate) fn insert_snapshot(
        &mut self,
        order_id: OrderId,
        value: Box<[u8]>,
        due: Option<Deadline>,
    ) {
        self.deadlines.set(order_id, due);
        let stored = match compact::says_final(&value) {
            true => self.put_final(&value).unwrap_or(Stored::Snapshot(value)),
            false => Stored::Snapshot(value),
        };
        self.by_id.insert(order_id, stored);
    }

    /// Keeps the order's slot parsed (while a batch works on it, or to restore it).
    pub(crate) fn insert(&mut self, order_id: OrderId, slot: OrderSlot) {
        self.deadlines.set(order_id, deadline::pending(&slot.state));
        self.by_id.insert(order_id, Stored::Loaded(Box::new(slot)));
    }

    /// Encodes a loaded order again, as its transaction wrote it, freeing the parsed slot.
    pub(crate) fn settle(&mut self, order_id: OrderId, value: Vec<u8>) {
        if let Some(Stored::Loaded(slot)) = self.by_id.get(&order_id) {
            let due = deadline::pending(&slot.state);
            self.insert_snapshot(order_id, value.into_boxed_slice(), due);
        }
    }

    /// Whether the order is known (in whatever form it is held).
    pub(crate) fn contains(&self, order_id: &OrderId) -> bool {
        self.by_id.contains_key(order_id)
    }

    pub(crate) fn remove(&mut self, order_id: &OrderId) {
        self.deadlines.set(*order_id, None);
        self.by_id.remove(order_id);
    }

    fn put_final(&mut self, value: &[u8]) -> Option<Stored> {
        if let Finals::Closed(dir) = &self.finals {
            self.finals = match FinalStore::open(dir) {
                Ok(store) => Finals::Open(store),
                Err(error) => {
                    tracing::warn!(dir = %dir.display(), %error, "cannot open the final orders' store; keeping them in memory");
                    Finals::Unavailable
                }
            };
        }
        let Finals::Open(store) = &mut self.finals else {
            return None;
        };
        match store.put(value) {
            Ok(stored) => Some(Stored::Final(stored)),
            Err(error) => {
                tracing::warn!(%error, "cannot write to the final orders' store; keeping the order in memory");
                metrics::counter!("orderlog_processor_final_store_errors_total").increment(1);
                None
            }
        }
    }

    /// Parses the order's snapshot if it is not parsed yet. On error the order stays as it
    /// was until the caller puts its state in its place ([`Orders::insert`]): it is never
    /// mistaken for an unknown one.
    pub(crate) fn load(&mut self, order_id: &OrderId) -> Result<(), Unreadable> {
        let slot = match self.by_id.get(order_id) {
            None | Some(Stored::Loaded(_)) => return Ok(()),
            Some(stored) => self.decode(order_id, stored)?,
        };
        self.by_id.insert(*order_id, Stored::Loaded(Box::new(slot)));
        Ok(())
    }

    /// The order's version (0 when unknown), read without keeping it parsed: an order in the
    /// final store stays there.
    pub(crate) fn version(&self, order_id: &OrderId) -> Result<u64, Unreadable> {
        match self.by_id.get(order_id) {
            None => Ok(0),
            Some(Stored::Loaded(slot)) => Ok(slot.state.version()),
            Some(stored) => Ok(self.decode(order_id, stored)?.state.version()),
        }
    }

    /// A stored snapshot parsed (a loaded order is not asked for).
    fn decode(&self, order_id: &OrderId, stored: &Stored) -> Result<OrderSlot, Unreadable> {
        let slot = match stored {
            Stored::Loaded(slot) => Some((**slot).clone()),
            Stored::Snapshot(value) => snapshots::decode(value),
            Stored::Final(at) => match &self.finals {
                Finals::Open(store) => match store.get(*at) {
                    Ok(value) => snapshots::decode(&value),
                    Err(error) => {
                        tracing::error!(%order_id, %error, "cannot read the final orders' store");
                        metrics::counter!("orderlog_processor_final_store_errors_total")
                            .increment(1);
                        None
                    }
                },
                _ => None,
            },
        };
        slot.ok_or(Unreadable(*order_id))
    }

    /// A loaded order; `None` when the order is unknown or not loaded yet.
    pub(crate) fn get(&self, order_id: &OrderId) -> Option<&OrderSlot> {
        match self.by_id.get(order_id) {
            Some(Stored::Loaded(slot)) => Some(slot),
            _ => None,
        }
    }

    /// The order's slot, a new one when the order is unknown; `None` when it is not loaded
    /// (see [`Orders::load`]).
    pub(crate) fn get_or_default(&mut self, order_id: OrderId) -> Option<&mut OrderSlot> {
        match self
            .by_id
            .entry(order_id)
            .or_insert_with(|| Stored::Loaded(Box::default()))
        {
            Stored::Loaded(slot) => Some(slot),
            Stored::Snapshot(_) | Stored::Final(_) => None,
        }
    }

    /// Every order parsed: for tests and benchmarks that compare states. `None` when a
    /// snapshot is unreadable.
    #[cfg(any(test, feature = "measure"))]
    pub(crate) fn into_loaded(mut self) -> Option<HashMap<OrderId, OrderSlot>> {
        let ids: Vec<OrderId> = self.by_id.keys().copied().collect();
        let mut loaded = HashMap::with_capacity(ids.len());
        for id in ids {
            self.load(&id).ok()?;
            if let Some(Stored::Loaded(slot)) = self.by_id.remove(&id) {
                loaded.insert(id, *slot);
            }
        }
        Some(loaded)
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
    /// Orders as their snapshots would hold them (a fold of the events produces slots).
    fn from_iter<T: IntoIterator<Item = (OrderId, OrderSlot)>>(slots: T) -> Self {
        let mut orders = Orders::default();
        for (id, slot) in slots {
            orders.insert_snapshot(id, snapshots::encode(&slot).0.into_boxed_slice(), None);
        }
        orders
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
        slot.recent
            .push_back(crate::processor::store::slot::Recent {
                command_id: Uuid::from_u128(7),
                fingerprint: Some("f".to_owned()),
                outcome: schemas::CommandOutcome::IdempotencyKeyReused,
            });
        slot
    }

    #[test]
    fn a_snapshot_is_parsed_on_first_load_and_the_latest_one_wins() {
        let mut orders = Orders::default();
        orders.insert_snapshot(
            id(1),
            snapshots::encode(&OrderSlot::default()).0.into(),
            None,
        );
        orders.insert_snapshot(id(1), snapshots::encode(&placed_slot()).0.into(), None);
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
        orders.insert_snapshot(id(2), b"{\"format\":2".to_vec().into(), None);
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

    fn final_slot() -> OrderSlot {
        let slot = OrderSlot::cancelled_for_tests();
        assert!(compact::is_final(&slot.state));
        slot
    }

    #[test]
    fn a_final_order_goes_to_the_store_and_comes_back_whole() {
        let mut orders = Orders::default();
        let slot = final_slot();
        let (value, _) = snapshots::encode(&slot);
        orders.insert_snapshot(id(5), value.clone().into(), None);
        orders.insert_snapshot(id(6), snapshots::encode(&placed_slot()).0.into(), None);
        assert_eq!(orders.finals(), (1, value.len() as u64));
        assert!(
            orders.get_or_default(id(5)).is_none(),
            "not taken for unknown"
        );
        orders.load(&id(5)).expect("readable");
        assert_eq!(orders.get(&id(5)), Some(&slot));
        let loaded = orders.into_loaded().expect("all readable");
        assert_eq!(loaded[&id(5)], slot);
        assert_eq!(loaded[&id(6)], placed_slot());
    }

    #[test]
    fn settling_a_loaded_order_frees_its_slot_and_a_missing_store_keeps_finals_in_memory() {
        let mut orders = Orders::in_dir(PathBuf::from("/nonexistent/orderlog"));
        let slot = final_slot();
        orders.insert(id(5), slot.clone());
        orders.settle(id(5), snapshots::encode(&slot).0);
        assert_eq!(orders.get(&id(5)), None, "back to bytes");
        assert_eq!(orders.finals().0, 0, "no store: kept in memory");
        orders.load(&id(5)).expect("readable");
        assert_eq!(orders.get(&id(5)), Some(&slot));
        orders.settle(id(7), snapshots::encode(&slot).0);
        assert_eq!(orders.len(), 1, "settling an order not loaded adds nothing");
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
