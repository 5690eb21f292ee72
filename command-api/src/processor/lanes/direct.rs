//! Commands handed straight to the partition's lane when the HTTP tier and the processor
//! owning the order's partition share a process: no trip through the commands topic, and
//! the answer as soon as the transaction holding the command's events has committed.
//!
//! [`Owners`] is the registry the two roles share: a lane registers once its partition is
//! taken over and serving, and leaves it before it stops. A command handed to a lane that
//! stops before deciding it, or whose transaction fails, gets no answer: its reply is
//! dropped, and the HTTP tier sends the same envelope again (the same command id, so a
//! transaction that did commit answers from the order's idempotency memory), directly or
//! through the commands topic when the partition is no longer served here. Fencing by
//! transactional id stays the safety net: a lane that lost its partition cannot commit.
//!
//! Ordering: commands of one order are decided in the order their partition's lane
//! receives them. A command answered is decided before any command sent after its answer,
//! whichever way either arrives; commands in flight at the same time, one through the
//! commands topic and one handed over directly, have no order between them (use
//! `If-Match` where it matters).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use schemas::{CommandEnvelope, CommandResult};
use tokio::sync::oneshot;

use crate::processor::transaction::input::{Direct, Input};

/// The lanes serving partitions in this process, by partition.
#[derive(Clone, Default)]
pub struct Owners {
    lanes: Arc<RwLock<HashMap<i32, Registered>>>,
    next_id: Arc<AtomicU64>,
}

/// A lane's entry: which lane (a partition's next lane may register before the previous
/// one has left), and its inbox.
struct Registered {
    id: u64,
    inbox: Sender<Input>,
}

impl std::fmt::Debug for Owners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut served: Vec<i32> = self.read().keys().copied().collect();
        served.sort_unstable();
        f.debug_struct("Owners").field("served", &served).finish()
    }
}

impl Owners {
    /// Hands `command` to the lane serving `partition` here; the receiver gets its result
    /// once committed, or is closed when it will not be (retry). `None` when no lane here
    /// serves the partition.
    pub fn submit(
        &self,
        partition: i32,
        command: CommandEnvelope,
    ) -> Option<oneshot::Receiver<CommandResult>> {
        let (reply, receiver) = oneshot::channel();
        let direct = Direct {
            command,
            reply,
            handed: Instant::now(),
        };
        let lanes = self.read();
        let lane = lanes.get(&partition)?;
        lane.inbox.send(Input::Direct(Box::new(direct))).ok()?;
        Some(receiver)
    }

    /// Whether a lane here serves `partition`.
    pub fn serves(&self, partition: i32) -> bool {
        self.read().contains_key(&partition)
    }

    /// Makes `inbox` the partition's lane here; the id to leave with.
    pub(crate) fn register(&self, partition: i32, inbox: Sender<Input>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        self.lanes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(partition, Registered { id, inbox });
        id
    }

    /// Takes the lane `id` out, unless another lane of the partition replaced it; commands
    /// handed over afterwards go elsewhere.
    pub(crate) fn unregister(&self, partition: i32, id: u64) {
        let mut lanes = self.lanes.write().unwrap_or_else(PoisonError::into_inner);
        if lanes.get(&partition).is_some_and(|lane| lane.id == id) {
            lanes.remove(&partition);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<i32, Registered>> {
        self.lanes.read().unwrap_or_else(PoisonError::into_inner)
    }
}
