//! Assignment bookkeeping: the rebalance callbacks record what changed (they run inside
//! `poll`), and the processor loop acts on it between polls. A revoked partition's thread
//! is stopped inside the callback, so its transaction in flight commits before the
//! partition is given up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};

use super::lane::Lane;

#[derive(Debug)]
pub(crate) enum Change {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

#[derive(Default)]
pub(crate) struct RebalanceContext {
    changes: Mutex<Vec<Change>>,
    lanes: Mutex<HashMap<i32, Lane>>,
}

impl RebalanceContext {
    /// The threads of the partitions this processor owns, by partition.
    pub(crate) fn lanes(&self) -> MutexGuard<'_, HashMap<i32, Lane>> {
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops the partitions' threads (each finishes its transaction in flight).
    pub(crate) fn stop_lanes(&self, partitions: &[i32]) {
        let stopping: Vec<Lane> = {
            let mut lanes = self.lanes();
            partitions.iter().filter_map(|p| lanes.remove(p)).collect()
        };
        for lane in stopping {
            lane.stop();
        }
    }

    pub(crate) fn take_changes(&self) -> Vec<Change> {
        self.changes
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }

    fn record(&self, change: Change) {
        if let Ok(mut changes) = self.changes.lock() {
            changes.push(change);
        }
    }
}

fn partitions(list: &rdkafka::TopicPartitionList) -> Vec<i32> {
    list.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked = partitions(list);
            tracing::info!(partitions = ?revoked, "partitions revoked");
            self.stop_lanes(&revoked);
            self.record(Change::Revoked(revoked));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => self.record(Change::Assigned(partitions(list))),
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// What the processor role owns, for `/readyz` and logs.
#[derive(Debug, Clone, Default)]
pub struct ProcessorStatus(Arc<Mutex<StatusInner>>);

#[derive(Debug, Default)]
struct StatusInner {
    joined: bool,
    stopped: bool,
    partitions: Vec<i32>,
}

impl ProcessorStatus {
    pub(crate) fn set_partitions(&self, mut partitions: Vec<i32>) {
        partitions.sort_unstable();
        if let Ok(mut inner) = self.0.lock() {
            inner.joined |= !partitions.is_empty();
            inner.partitions = partitions;
        }
    }

    pub(crate) fn set_stopped(&self) {
        if let Ok(mut inner) = self.0.lock() {
            inner.stopped = true;
        }
    }

    /// Ready once it has owned partitions (all of them rebuilt) and is still running.
    pub fn is_ready(&self) -> bool {
        self.0
            .lock()
            .map(|i| i.joined && !i.stopped)
            .unwrap_or(false)
    }

    pub fn partitions(&self) -> Vec<i32> {
        self.0
            .lock()
            .map(|i| i.partitions.clone())
            .unwrap_or_default()
    }
}
