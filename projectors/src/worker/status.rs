//! What a worker shows of itself (`/readyz`, `/metrics`) and the flags its two threads
//! share.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Health of one projection's worker; `orderlog_projection_up{projection}` follows it
/// (1 applying, 0 stopped or waiting out an outage).
#[derive(Debug, Default)]
pub struct WorkerStatus {
    projection: &'static str,
    pub(crate) assigned: Mutex<Vec<i32>>,
    /// Stopped for good, and why (a bug, or a poison event under the halt policy).
    failure: Mutex<Option<String>>,
    /// Waiting out an unavailable dependency; clears once a batch or read goes through.
    waiting: Mutex<Option<String>>,
    /// Set by the applier when the stored offsets moved backwards (a rebuild switched
    /// tables, or someone reset them): the consumer seeks back to them.
    resync: AtomicBool,
    /// Bumped by the consumer after each resync; batches polled before are dropped.
    epoch: AtomicU64,
}

impl WorkerStatus {
    pub(crate) fn new(projection: &'static str) -> Self {
        let status = Self {
            projection,
            ..Self::default()
        };
        status.publish();
        status
    }

    fn publish(&self) {
        metrics::gauge!("orderlog_projection_up", "projection" => self.projection)
            .set(if self.is_ready() { 1.0 } else { 0.0 });
    }

    pub fn assigned(&self) -> Vec<i32> {
        self.assigned.lock().map(|a| a.clone()).unwrap_or_default()
    }

    pub(crate) fn set_assigned(&self, partitions: Vec<i32>) {
        if let Ok(mut assigned) = self.assigned.lock() {
            *assigned = partitions;
        }
    }

    /// Why the worker stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    pub fn failed(&self) -> bool {
        self.failure().is_some()
    }

    pub(crate) fn set_failed(&self, reason: String) {
        if let Ok(mut failure) = self.failure.lock() {
            *failure = Some(reason);
        }
        self.publish();
    }

    /// What the worker is waiting for, while a dependency is unavailable.
    pub fn waiting(&self) -> Option<String> {
        self.waiting.lock().ok().and_then(|w| w.clone())
    }

    pub(crate) fn set_waiting(&self, reason: Option<String>) {
        if let Ok(mut waiting) = self.waiting.lock() {
            *waiting = reason;
        }
        self.publish();
    }

    /// Applying, and nothing stands in its way.
    pub fn is_ready(&self) -> bool {
        !self.failed() && self.waiting().is_none()
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Asks the consumer to seek back to the stored offsets; returns the first epoch whose
    /// batches are read after that seek.
    pub(crate) fn request_resync(&self) -> u64 {
        self.resync.store(true, Ordering::SeqCst);
        self.epoch() + 1
    }

    /// Takes a pending resync request.
    pub(crate) fn take_resync(&self) -> bool {
        self.resync.swap(false, Ordering::SeqCst)
    }

    /// Puts back a resync that could not be done yet (the database was unavailable).
    pub(crate) fn keep_resync(&self) {
        self.resync.store(true, Ordering::SeqCst);
    }

    pub(crate) fn resynced(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}
