//! Assignment bookkeeping: the rebalance callbacks record what changed (they run inside
//! `poll`), and the processor loop acts on it between polls. A revoked partition's thread
//! is stopped inside the callback, so its transaction in flight commits before the
//! partition is given up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};

use crate::processor::lanes::lane::Lane;

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

impl ClientContext for RebalanceContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        event_store::statistics::record("command-processor", &statistics);
    }
}

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
    /// Partitions the group assigned this processor.
    assigned: Vec<i32>,
    /// Partitions whose lane runs (taken over and serving commands).
    partitions: Vec<i32>,
}

impl ProcessorStatus {
    /// Also sets `orderlog_processor_partitions_served` and
    /// `orderlog_processor_partitions_unserved` (assigned here, not served yet).
    pub(crate) fn set_partitions(&self, assigned: Vec<i32>, mut served: Vec<i32>) {
        served.sort_unstable();
        let unserved = assigned.iter().filter(|p| !served.contains(p)).count();
        metrics::gauge!("orderlog_processor_partitions_served").set(served.len() as f64);
        metrics::gauge!("orderlog_processor_partitions_unserved").set(unserved as f64);
        if let Ok(mut inner) = self.0.lock() {
            inner.joined |= !served.is_empty();
            inner.assigned = assigned;
            inner.partitions = served;
        }
    }

    pub(crate) fn set_stopped(&self) {
        if let Ok(mut inner) = self.0.lock() {
            inner.stopped = true;
        }
    }

    /// Ready once it has served partitions, is still running, and serves every partition
    /// assigned to it (none waits for its takeover).
    pub fn is_ready(&self) -> bool {
        self.0
            .lock()
            .map(|i| i.joined && !i.stopped && i.assigned.iter().all(|p| i.partitions.contains(p)))
            .unwrap_or(false)
    }

    /// Assigned partitions not served yet (taken over, or waiting out an outage).
    pub fn unserved(&self) -> Vec<i32> {
        self.0
            .lock()
            .map(|i| {
                i.assigned
                    .iter()
                    .copied()
                    .filter(|p| !i.partitions.contains(p))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn partitions(&self) -> Vec<i32> {
        self.0
            .lock()
            .map(|i| i.partitions.clone())
            .unwrap_or_default()
    }
}
