//! The projectors' change signal (NOTIFY on `orderlog_changes`, one per committed batch),
//! fanned out in process to subscriptions and read-your-writes waits.
//!
//! One LISTEN connection per process. It points at the primary (LISTEN does not work on a
//! hot standby), which is why its URL is configured apart from the read pool's. When the
//! connection drops, listeners are told that they may have missed changes (`missed`), so
//! they re-read what they watch.
//!
//! When the read pool is a replica, each signal is held until the replica has replayed
//! what it announces ([`crate::replica`]), so whoever reads on a signal sees its rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Deserialize;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::replica::ReplicaGate;

pub const CHANNEL: &str = "orderlog_changes";

/// One committed batch of one projection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub projection: String,
    /// The orders the batch changed and their versions after it.
    pub orders: Vec<(Uuid, i64)>,
    /// The batch changed more orders than a signal can name, or the listener lost its
    /// connection: anything may have changed.
    pub missed: bool,
}

impl Change {
    /// Whether this change may concern `order_id` in `projection`.
    pub fn may_touch(&self, projection: &str, order_id: Uuid) -> bool {
        (self.missed && (self.projection == projection || self.projection.is_empty()))
            || (self.projection == projection && self.orders.iter().any(|(id, _)| *id == order_id))
    }

    pub fn parse(payload: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Wire {
            projection: String,
            #[serde(default)]
            orders: Vec<WireOrder>,
            #[serde(default)]
            truncated: bool,
        }
        #[derive(Deserialize)]
        struct WireOrder {
            id: Uuid,
            version: i64,
        }
        let wire: Wire = serde_json::from_str(payload).ok()?;
        Some(Self {
            projection: wire.projection,
            orders: wire.orders.into_iter().map(|o| (o.id, o.version)).collect(),
            missed: wire.truncated,
        })
    }

    /// Sent to everyone after the listener reconnects.
    fn everything_missed() -> Self {
        Self {
            projection: String::new(),
            orders: Vec::new(),
            missed: true,
        }
    }
}

#[derive(Clone)]
pub struct ChangeFeed {
    sender: broadcast::Sender<Arc<Change>>,
    connected: Arc<AtomicBool>,
    /// The replica readers read, when they do not read the primary the signal comes from.
    gate: Option<ReplicaGate>,
}

impl ChangeFeed {
    /// Starts listening on `url` in the background, reconnecting for as long as the
    /// process lives. With a `gate`, signals wait for that replica to replay them.
    pub fn start(url: String, gate: Option<ReplicaGate>) -> Self {
        let (sender, _) = broadcast::channel(4096);
        let feed = Self {
            sender,
            connected: Arc::new(AtomicBool::new(false)),
            gate,
        };
        tokio::spawn(feed.clone().listen_forever(url));
        feed
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.sender.subscribe()
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    async fn listen_forever(self, url: String) {
        let mut first = true;
        loop {
            let error = self.listen(&url, first).await;
            self.connected.store(false, Ordering::SeqCst);
            tracing::warn!(%error, "change listener lost its connection; reconnecting in 1 s");
            first = false;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Listens until the connection fails, and returns why.
    async fn listen(&self, url: &str, first: bool) -> sqlx::Error {
        let mut listener = match PgListener::connect(url).await {
            Ok(listener) => listener,
            Err(error) => return error,
        };
        if let Err(error) = listener.listen(CHANNEL).await {
            return error;
        }
        self.connected.store(true, Ordering::SeqCst);
        if !first {
            let _ = self.sender.send(Arc::new(Change::everything_missed()));
        }
        loop {
            let first = match listener.recv().await {
                Ok(notification) => notification,
                Err(error) => return error,
            };
            // Everything already received shares one wait for the replica.
            let mut changes = Vec::new();
            for notification in
                std::iter::once(first).chain(std::iter::from_fn(|| listener.next_buffered()))
            {
                match Change::parse(notification.payload()) {
                    Some(change) => changes.push(change),
                    None => {
                        tracing::warn!(
                            payload = notification.payload(),
                            "unreadable change signal"
                        );
                    }
                }
            }
            if let Some(gate) = &self.gate {
                let position = match ReplicaGate::primary_position(&mut listener).await {
                    Ok(position) => position,
                    Err(error) => return error,
                };
                if let Err(error) = gate.wait_replayed(&position).await {
                    // Readers re-check on their own; the signal is not lost for this.
                    tracing::warn!(%error, "could not ask the replica how far it replayed");
                }
            }
            for change in changes {
                metrics::counter!("orderlog_query_change_signals_total").increment(1);
                // No receiver is not an error: nobody is waiting right now.
                let _ = self.sender.send(Arc::new(change));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_read_as_the_projectors_write_them() {
        let id = Uuid::now_v7();
        let change = Change::parse(&format!(
            r#"{{"projection":"orders","orders":[{{"id":"{id}","version":3}}],"positions":[{{"partition":0,"next_offset":9}}]}}"#
        ))
        .expect("parses");
        assert_eq!(change.orders, vec![(id, 3)]);
        assert!(change.may_touch("orders", id));
        assert!(!change.may_touch("sales", id));
        assert!(!change.may_touch("orders", Uuid::nil()));
        let truncated = Change::parse(r#"{"projection":"sales","truncated":true,"positions":[]}"#)
            .expect("parses");
        assert!(truncated.may_touch("sales", id) && !truncated.may_touch("orders", id));
        assert!(Change::everything_missed().may_touch("orders", id));
        assert_eq!(Change::parse("not json"), None);
    }
}
