//! The read cache for `order(id)`: orders with their lines, kept in process and never
//! stale with respect to the change signals (docs/query-api.md, "The read cache").
//!
//! An entry is the order as one read of the database saw it, tagged with its version. The
//! projectors' change signal (`changes.rs`) names every order a commit changed: the entry of
//! each is evicted, and a signal that lost its list (`missed`, `truncated`, a listener that
//! reconnected) empties the cache. A read that may fill the cache takes a ticket before it
//! reads the database; its fill is refused when a signal that may concern its order came
//! after the ticket (a read of version 3 that ends after the signal of version 4 never puts
//! version 3 back). The check and the insert happen under the same lock as a signal's
//! eviction, so none slips between them. A read with a consistency token or `minVersion` is
//! served from the cache only when the entry's version satisfies it. The cache key is the
//! order id alone: access rules apply after the cache, to whatever it returns. In replica
//! mode the signals are released once the replica has replayed them, so a read ticketed
//! after a signal reads rows at least that new.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use moka::notification::RemovalCause;
use moka::sync::Cache;
use uuid::Uuid;

use crate::changes::Change;
use crate::freshness::Wanted;
use crate::schema::order::{Order, OrderLine};

/// The projection whose commits change what the cache holds.
const PROJECTION: &str = "orders";

/// How many orders' last signals are remembered one by one; past it they are forgotten
/// together and every read ticketed before is refused (bounded memory, never stale).
const REMEMBERED_SIGNALS: usize = 100_000;

/// Taken before a read of the database that may fill the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

#[derive(Clone)]
pub struct OrderCache(Arc<Inner>);

struct Inner {
    /// `None` when the cache is off (`ORDERLOG_QUERY_CACHE_BYTES=0`).
    entries: Option<Cache<Uuid, Arc<Order>>>,
    /// Signals applied so far.
    applied: AtomicU64,
    signals: Mutex<Signals>,
}

/// When each order was last named by a signal (in signals applied).
#[derive(Default)]
struct Signals {
    by_order: HashMap<Uuid, u64>,
    /// Every order may have been named up to here (the cache was emptied, or the names
    /// were forgotten).
    all_up_to: u64,
}

impl Signals {
    fn named_since(&self, order: &Uuid, ticket: Ticket) -> bool {
        self.all_up_to > ticket.0 || self.by_order.get(order).is_some_and(|at| *at > ticket.0)
    }
}

impl OrderCache {
    /// A cache of at most `bytes` (as the entries are weighed); 0 turns it off.
    pub fn new(bytes: u64) -> Self {
        let entries = (bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(bytes)
                .weigher(|_, order: &Arc<Order>| weight(order))
                .eviction_listener(|_, _, cause| {
                    if matches!(cause, RemovalCause::Size) {
                        metrics::counter!("orderlog_query_cache_evictions_total").increment(1);
                    }
                })
                .build()
        });
        // Served from the start, before the first read.
        metrics::gauge!("orderlog_query_cache_bytes").set(0.0);
        for counter in [
            "orderlog_query_cache_hits_total",
            "orderlog_query_cache_misses_total",
            "orderlog_query_cache_evictions_total",
            "orderlog_query_cache_fills_refused_total",
        ] {
            metrics::counter!(counter).increment(0);
        }
        Self(Arc::new(Inner {
            entries,
            applied: AtomicU64::new(0),
            signals: Mutex::new(Signals::default()),
        }))
    }

    pub fn enabled(&self) -> bool {
        self.0.entries.is_some()
    }

    /// The cached order when it satisfies `wanted` (a hit), else `None` (a miss). The entry
    /// carries the caller's `wanted` onwards, for the nested models.
    pub fn get(&self, order_id: Uuid, wanted: Option<Wanted>) -> Option<Order> {
        let entries = self.0.entries.as_ref()?;
        let hit = entries
            .get(&order_id)
            .filter(|order| wanted.is_none_or(|w| order.version.0 >= i128::from(w.version)));
        match hit {
            Some(order) => {
                metrics::counter!("orderlog_query_cache_hits_total").increment(1);
                let mut order = (*order).clone();
                order.wanted = wanted;
                Some(order)
            }
            None => {
                metrics::counter!("orderlog_query_cache_misses_total").increment(1);
                None
            }
        }
    }

    /// The version of the order the cache holds (neither a hit nor a miss).
    pub fn version_of(&self, order_id: Uuid) -> Option<i128> {
        self.0
            .entries
            .as_ref()?
            .get(&order_id)
            .map(|order| order.version.0)
    }

    /// Taken before reading the database for a fill.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.0.applied.load(Ordering::SeqCst))
    }

    /// Keeps `order` (read with its lines after `ticket` was taken) unless a signal that may
    /// concern it came since; whether it was kept.
    pub fn fill(&self, ticket: Ticket, order: &Order) -> bool {
        let Some(entries) = &self.0.entries else {
            return false;
        };
        if order.prefetched_lines.is_none() {
            return false;
        }
        let signals = self.lock();
        if signals.named_since(&order.uuid, ticket) {
            metrics::counter!("orderlog_query_cache_fills_refused_total").increment(1);
            return false;
        }
        let mut kept = order.clone();
        kept.wanted = None;
        entries.insert(order.uuid, Arc::new(kept));
        drop(signals);
        metrics::gauge!("orderlog_query_cache_bytes").set(entries.weighted_size() as f64);
        true
    }

    /// Applies one change signal: evicts the orders it names, or everything when it lost
    /// its list.
    pub fn apply(&self, change: &Change) {
        let concerns_all =
            change.missed && (change.projection.is_empty() || change.projection == PROJECTION);
        if !concerns_all && change.projection != PROJECTION {
            return;
        }
        let mut signals = self.lock();
        let at = self.0.applied.fetch_add(1, Ordering::SeqCst) + 1;
        if concerns_all {
            signals.all_up_to = at;
            signals.by_order.clear();
            if let Some(entries) = &self.0.entries {
                entries.invalidate_all();
            }
            return;
        }
        if signals.by_order.len() + change.orders.len() > REMEMBERED_SIGNALS {
            signals.all_up_to = at - 1;
            signals.by_order.clear();
        }
        for (order, _) in &change.orders {
            signals.by_order.insert(*order, at);
            if let Some(entries) = &self.0.entries {
                entries.invalidate(order);
            }
        }
    }

    /// Applies the feed's signals for as long as it runs; a lagging receiver lost signals,
    /// which empties the cache.
    pub fn follow(&self, mut changes: tokio::sync::broadcast::Receiver<Arc<Change>>) {
        let cache = self.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match changes.recv().await {
                    Ok(change) => cache.apply(&change),
                    Err(RecvError::Lagged(_)) => cache.apply(&Change {
                        projection: String::new(),
                        orders: Vec::new(),
                        missed: true,
                    }),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Signals> {
        self.0
            .signals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// About what an entry costs in memory, in bytes.
fn weight(order: &Order) -> u32 {
    let strings = order.id.0.len()
        + order.customer_id.len()
        + order.currency.len()
        + order.payment.as_ref().map_or(0, |p| p.reference.len())
        + order
            .shipment
            .as_ref()
            .map_or(0, |s| s.carrier.len() + s.tracking_number.len())
        + order.cancellation.as_ref().map_or(0, |c| c.reason.len())
        + order.shipping_address.as_ref().map_or(0, |_| 160);
    let lines = order.prefetched_lines.as_ref().map_or(0, |lines| {
        lines
            .iter()
            .map(|line| std::mem::size_of::<OrderLine>() + line.sku.len() + 2 * 3)
            .sum()
    });
    // Measured against the process's resident memory (docs/performance.md): the heap's
    // and moka's own share per entry come to about half of what is counted above.
    let total = (std::mem::size_of::<Order>() + strings + lines + 64) * 3 / 2;
    u32::try_from(total).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order_fixture::order;

    fn signal(projection: &str, orders: &[(Uuid, i64)]) -> Change {
        Change {
            projection: projection.to_owned(),
            orders: orders.to_vec(),
            missed: false,
        }
    }

    fn wanted(order_id: Uuid, version: i64) -> Option<Wanted> {
        Some(Wanted { order_id, version })
    }

    #[test]
    fn a_filled_order_is_served_while_it_satisfies_what_the_read_asks() {
        let cache = OrderCache::new(1 << 20);
        let id = Uuid::now_v7();
        assert!(cache.get(id, None).is_none());
        assert!(cache.fill(cache.ticket(), &order(id, 3)));
        assert_eq!(cache.get(id, None).map(|o| o.version.0), Some(3));
        let asked = cache.get(id, wanted(id, 3)).expect("version 3 satisfies 3");
        assert_eq!(
            asked.wanted,
            wanted(id, 3),
            "the read's own `wanted` travels on"
        );
        assert!(
            cache.get(id, wanted(id, 4)).is_none(),
            "version 4 is asked for"
        );
    }

    #[test]
    fn a_read_that_ends_after_a_signal_for_its_order_does_not_fill() {
        let cache = OrderCache::new(1 << 20);
        let (id, other) = (Uuid::now_v7(), Uuid::now_v7());
        let before = cache.ticket();
        cache.apply(&signal("orders", &[(id, 4)]));
        assert!(
            !cache.fill(before, &order(id, 3)),
            "version 3 read before the signal of 4"
        );
        assert!(
            cache.fill(before, &order(other, 1)),
            "the signal named another order"
        );
        assert!(
            cache.fill(cache.ticket(), &order(id, 4)),
            "a read after the signal"
        );
        cache.apply(&signal("orders", &[(id, 5)]));
        assert!(
            cache.get(id, None).is_none(),
            "the signal evicted version 4"
        );
    }

    #[test]
    fn a_signal_that_lost_its_list_empties_the_cache_and_refuses_reads_in_flight() {
        let cache = OrderCache::new(1 << 20);
        let id = Uuid::now_v7();
        assert!(cache.fill(cache.ticket(), &order(id, 1)));
        let in_flight = cache.ticket();
        cache.apply(&signal("timeline", &[(id, 2)]));
        assert!(cache.get(id, None).is_some(), "another projection's signal");
        cache.apply(&Change {
            projection: String::new(),
            orders: Vec::new(),
            missed: true,
        });
        assert!(cache.get(id, None).is_none());
        assert!(!cache.fill(in_flight, &order(id, 1)));
        assert!(cache.fill(cache.ticket(), &order(id, 2)));
    }

    #[test]
    fn forgetting_old_signals_refuses_every_read_ticketed_before() {
        let cache = OrderCache::new(1 << 20);
        let id = Uuid::now_v7();
        let old = cache.ticket();
        for _ in 0..=REMEMBERED_SIGNALS / 1000 {
            let many: Vec<(Uuid, i64)> = (0..1000).map(|_| (Uuid::now_v7(), 1)).collect();
            cache.apply(&signal("orders", &many));
        }
        assert!(
            !cache.fill(old, &order(id, 1)),
            "its order's signal may be forgotten"
        );
        assert!(cache.fill(cache.ticket(), &order(id, 1)));
    }

    #[test]
    fn a_cache_of_no_bytes_is_off() {
        let cache = OrderCache::new(0);
        let id = Uuid::now_v7();
        assert!(!cache.enabled());
        assert!(!cache.fill(cache.ticket(), &order(id, 1)));
        assert!(cache.get(id, None).is_none());
    }

    #[test]
    fn only_an_order_read_with_its_lines_is_kept() {
        let cache = OrderCache::new(1 << 20);
        let id = Uuid::now_v7();
        let mut without = order(id, 1);
        without.prefetched_lines = None;
        assert!(!cache.fill(cache.ticket(), &without));
    }
}
