//! Folding onto a partition's snapshots the committed events they lack.
//!
//! A transaction writes an order's events and its snapshot together, so the snapshots
//! normally hold every committed event. But Kafka can commit a transaction's events and
//! abort its snapshots (`store::marks`; seen in `broker_restart`). A rebuild from the
//! snapshots alone then decided those commands a second time when they came back. The
//! events are the truth: every snapshot record names the events offset its
//! state is complete up to (`EVENTS_FROM_HEADER`), and the rebuild reads the events from
//! the highest such offset to the end (normally the last transaction's events, which the
//! snapshots hold already) and folds each event its order's state lacks, with its command
//! remembered, so a retry of that command is answered and never applied twice.

use std::collections::HashSet;
use std::convert::Infallible;

use event_store::{KafkaConfig, ReadError, Start, TopicSet, read_to_end, wire};
use schemas::EventEnvelope;
use schemas::values::OrderId;

use crate::processor::store::orders::Orders;

/// What a catch-up folded, and where the events partition ended.
#[derive(Debug, Default)]
pub(crate) struct CaughtUp {
    /// The events offset every order's state is now complete up to.
    pub end: i64,
    /// The orders whose state changed: their snapshots go out with the next transaction.
    pub orders: HashSet<OrderId>,
    pub events: usize,
    /// Whether one of the events watched for was read (`unconfirmed`).
    pub confirmed: bool,
}

/// Reads the events partition from `from` to its end and folds what `orders` lack, noting
/// whether one of the `watched` events (an order at a version) is there; a read that fails
/// is the rebuild's to report.
pub(crate) fn fold_missing(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    orders: &mut Orders,
    from: i64,
    watched: &HashSet<(OrderId, u64)>,
) -> Result<CaughtUp, ReadError<Infallible>> {
    let mut caught = CaughtUp::default();
    caught.end = read_to_end::<Infallible>(
        kafka,
        &topics.events,
        partition,
        Start::Offset(from),
        |message| {
            // An event that does not decode is screened by a fold of the whole partition;
            // here it is only never folded.
            if let Ok(envelope) = wire::decode_event(message) {
                caught.confirmed |= watched.contains(&(envelope.order_id, envelope.order_version));
                if fold_one(orders, &envelope) {
                    caught.orders.insert(envelope.order_id);
                    caught.events += 1;
                }
            }
            Ok(())
        },
    )?;
    if caught.events > 0 {
        tracing::warn!(
            partition,
            events = caught.events,
            orders = caught.orders.len(),
            "committed events the snapshots lacked were folded into their orders"
        );
        metrics::counter!("orderlog_processor_events_caught_up_total")
            .increment(caught.events as u64);
    }
    Ok(caught)
}

/// Folds `envelope` onto its order when the order's state does not hold it yet; whether it
/// did. An order whose snapshot does not parse is left to its first command (which folds
/// its events); an event that does not follow its order's version is not folded. An order
/// whose state holds the event stays as it is stored (one in the final store stays on
/// disk): only an order given an event is parsed.
pub(crate) fn fold_one(orders: &mut Orders, envelope: &EventEnvelope) -> bool {
    match orders.version(&envelope.order_id) {
        Ok(version) if envelope.order_version > version => {}
        _ => return false,
    }
    if orders.load(&envelope.order_id).is_err() {
        return false;
    }
    let Some(slot) = orders.get_or_default(envelope.order_id) else {
        return false;
    };
    if slot.replay(envelope).is_ok() {
        return true;
    }
    if slot.state.order().is_none() {
        orders.remove(&envelope.order_id);
    }
    false
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::processor::fixtures::{alice_cancels, alice_places_an_order, envelope};
    use crate::processor::store::slot::OrderSlot;

    fn order(n: u128) -> OrderId {
        OrderId::from_uuid(Uuid::from_u128(n))
    }

    /// The events of placing and then cancelling `order`, as its lane decided them.
    fn placed_and_cancelled(order: OrderId) -> (Vec<EventEnvelope>, Uuid) {
        let mut slot = OrderSlot::default();
        let place = envelope(order, alice_places_an_order(), None);
        let cancel = envelope(order, alice_cancels(), None);
        let mut events = slot
            .handle(&place, Utc::now(), &Default::default())
            .expect("placed")
            .events;
        events.extend(
            slot.handle(&cancel, Utc::now(), &Default::default())
                .expect("cancelled")
                .events,
        );
        (events, cancel.command_id)
    }

    #[test]
    fn an_event_the_snapshot_lacks_is_folded_with_its_command_remembered() {
        let id = order(1);
        let (events, cancel_id) = placed_and_cancelled(id);
        let mut placed = OrderSlot::default();
        placed.replay(&events[0]).expect("placed");
        let mut orders: Orders = [(id, placed)].into_iter().collect();

        assert!(
            !fold_one(&mut orders, &events[0]),
            "already in the snapshot"
        );
        assert!(orders.get(&id).is_none(), "compared, not kept parsed");
        assert!(fold_one(&mut orders, &events[1]));
        assert!(!fold_one(&mut orders, &events[1]), "folded once");
        let slot = orders.get(&id).expect("loaded");
        assert_eq!(slot.state.version(), 2);
        assert!(slot.recent.iter().any(|r| r.command_id == cancel_id));
    }

    #[test]
    fn an_order_missing_from_the_snapshots_is_created_from_its_first_event() {
        let id = order(2);
        let (events, _) = placed_and_cancelled(id);
        let mut orders = Orders::default();
        assert!(fold_one(&mut orders, &events[0]));
        assert_eq!(orders.get(&id).map(|s| s.state.version()), Some(1));
    }

    #[test]
    fn an_event_that_does_not_follow_its_order_is_not_folded_and_leaves_no_empty_order() {
        let id = order(3);
        let (events, _) = placed_and_cancelled(id);
        let mut orders = Orders::default();
        assert!(
            !fold_one(&mut orders, &events[1]),
            "version 2 without version 1"
        );
        assert_eq!(orders.len(), 0);
    }
}
