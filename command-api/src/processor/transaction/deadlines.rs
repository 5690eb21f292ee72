//! Deadlines fired inside a partition's transactions, as commands are decided: the lane
//! adds the orders whose deadline came due to a batch (`lanes/lane.rs`), and each is decided
//! here against the order's state, under the command id derived from the deadline, its
//! events sent like a command's. What the transaction commits moves the index of pending
//! deadlines (`store::deadlines`) with the orders.

use chrono::{DateTime, Utc};
use event_store::TopicSet;
use schemas::order::deadline;
use schemas::values::OrderId;

use super::partition::{Changes, PartitionWorker};
use super::producer::BatchError;

impl PartitionWorker {
    /// Fires the order's pending deadline if it is due now and still applies (a payment
    /// decided earlier in the batch wins); its events go out with the batch.
    pub(super) fn fire(
        &mut self,
        topics: &TopicSet,
        order_id: OrderId,
        changes: &mut Changes,
    ) -> Result<(), BatchError> {
        changes
            .backup
            .entry(order_id)
            .or_insert_with(|| self.orders.get(&order_id).cloned());
        let Some(slot) = self.orders.get_or_default(order_id) else {
            return Err(self.writer.abandon(format!("order {order_id} not loaded")));
        };
        if slot.state.order().is_none() {
            self.orders.remove(&order_id);
            return Ok(());
        }
        let now = Utc::now();
        let due = deadline::pending(&slot.state);
        let fired = match slot.fire(order_id, now, now) {
            Ok(fired) => fired,
            Err(error) => {
                tracing::error!(%order_id, %error, "a fired deadline's event does not evolve");
                return Err(self.writer.abandon(error.to_string()));
            }
        };
        if let (Some(events), Some(due)) = (fired, due) {
            self.send_events(topics, &events, changes)?;
            changes.fired.push((due.kind.as_str(), due.at));
        }
        Ok(())
    }
}

impl PartitionWorker {
    /// A transaction committed: how late each deadline it fired was, due time to commit
    /// (`orderlog_deadline_lateness_seconds{kind}`), and how many are pending now.
    pub(super) fn deadlines_committed(&self, fired: &[(&'static str, DateTime<Utc>)]) {
        let now = Utc::now();
        for (kind, due) in fired {
            let late = (now - *due).to_std().unwrap_or_default();
            metrics::histogram!("orderlog_deadline_lateness_seconds", "kind" => *kind)
                .record(late.as_secs_f64());
        }
        metrics::gauge!("orderlog_deadlines_pending", "partition" => self.partition.to_string())
            .set(self.orders.deadlines().len() as f64);
    }
}
