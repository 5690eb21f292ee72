//! The projections: each turns a batch of events into set-based SQL on its own tables.
//! Every projection is idempotent by construction: rows carry the order version they
//! reflect and events at or below it are skipped, so replaying a range changes nothing.

mod orders;
mod sales;
mod timeline;

use schemas::EventEnvelope;
use sqlx::PgConnection;

/// A projection, by name. Each is its own consumer group and its own code file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Projection {
    /// `orders` and `order_lines`.
    Orders,
    /// `order_timeline`: every event of every order.
    Timeline,
    /// `customer_stats`, `daily_sales`, `product_sales` (and their facts tables).
    Sales,
}

pub const ALL: [Projection; 3] = [Projection::Orders, Projection::Timeline, Projection::Sales];

/// An event a projection cannot take: it goes to the dead-letter topic.
#[derive(Debug, Clone, thiserror::Error)]
#[error("event {event_id} ({event_type}, order {order_id} v{version}): {reason}")]
pub struct Poison {
    pub event_id: uuid::Uuid,
    pub event_type: &'static str,
    pub order_id: schemas::values::OrderId,
    pub version: u64,
    pub reason: String,
}

impl Poison {
    pub(crate) fn of(event: &EventEnvelope, reason: impl Into<String>) -> Self {
        Self {
            event_id: event.event_id,
            event_type: event.event.type_name(),
            order_id: event.order_id,
            version: event.order_version,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Poison(#[from] Poison),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl Projection {
    pub fn name(self) -> &'static str {
        match self {
            Projection::Orders => "orders",
            Projection::Timeline => "timeline",
            Projection::Sales => "sales",
        }
    }

    /// Applies a batch inside the caller's transaction. Returns the orders it changed,
    /// with the version each reached.
    pub async fn apply(
        self,
        tx: &mut PgConnection,
        events: &[&EventEnvelope],
    ) -> Result<Vec<(uuid::Uuid, u64)>, ApplyError> {
        match self {
            Projection::Orders => orders::apply(tx, events).await,
            Projection::Timeline => timeline::apply(tx, events).await,
            Projection::Sales => sales::apply(tx, events).await,
        }
    }
}

/// Events grouped by order, each group in log order.
pub(crate) fn by_order<'a>(
    events: &[&'a EventEnvelope],
) -> Vec<(uuid::Uuid, Vec<&'a EventEnvelope>)> {
    let mut groups: Vec<(uuid::Uuid, Vec<&'a EventEnvelope>)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for &event in events {
        let id = event.order_id.as_uuid();
        let slot = *index.entry(id).or_insert_with(|| {
            groups.push((id, Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(event);
    }
    groups
}

/// The next event must follow the stored version exactly; older ones were applied already.
pub(crate) enum Step {
    Skip,
    Apply,
}

pub(crate) fn step(current: u64, event: &EventEnvelope) -> Result<Step, Poison> {
    match event.order_version {
        v if v <= current => Ok(Step::Skip),
        v if v == current + 1 => Ok(Step::Apply),
        v => Err(Poison::of(
            event,
            format!("version {v} does not follow version {current}"),
        )),
    }
}
