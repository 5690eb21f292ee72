//! Read-your-writes: a client that passes the consistency token of a command answer
//! (`<order id>@<version>`) gets data at least that fresh. The wait is driven by the
//! projectors' change signal; a slow re-check covers a signal lost with a connection.
//! Past the bound, the answer is a `READ_MODEL_BEHIND` error, never stale data.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::changes::ChangeFeed;
use crate::errors::ApiError;

/// An order at a version: what a command answer's consistency token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub order_id: Uuid,
    pub version: i64,
}

impl Wanted {
    /// Reads `<order id>@<version>`.
    pub fn parse_token(token: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::BadInput(format!(
                "`{}` is not a consistency token; expected `<order id>@<version>` as a command answer gives it",
                token.chars().take(80).collect::<String>()
            ))
        };
        let (id, version) = token.trim().split_once('@').ok_or_else(bad)?;
        let order_id = Uuid::parse_str(id).map_err(|_| bad())?;
        let version = version
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 1)
            .ok_or_else(bad)?;
        Ok(Self { order_id, version })
    }

    /// From a token and/or a minimum version of a known order.
    pub fn from_args(
        order_id: Option<Uuid>,
        token: Option<&str>,
        min_version: Option<i64>,
    ) -> Result<Option<Self>, ApiError> {
        let from_token = token.map(Self::parse_token).transpose()?;
        if let (Some(wanted), Some(id)) = (from_token, order_id)
            && wanted.order_id != id
        {
            return Err(ApiError::BadInput(
                "the consistency token names another order".to_owned(),
            ));
        }
        let from_version = match (min_version, order_id) {
            (Some(version), Some(order_id)) if version >= 1 => Some(Self { order_id, version }),
            (Some(_), Some(_)) => {
                return Err(ApiError::BadInput(
                    "`minVersion` must be at least 1".to_owned(),
                ));
            }
            _ => None,
        };
        Ok(match (from_token, from_version) {
            (Some(a), Some(b)) => Some(if a.version >= b.version { a } else { b }),
            (a, b) => a.or(b),
        })
    }
}

/// A read model that records each order's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Orders,
    Timeline,
    Sales,
}

impl Model {
    fn projection(self) -> &'static str {
        match self {
            Model::Orders => "orders",
            Model::Timeline => "timeline",
            Model::Sales => "sales",
        }
    }

    fn version_sql(self) -> &'static str {
        match self {
            Model::Orders => "SELECT version FROM orders WHERE order_id = $1",
            Model::Timeline => "SELECT max(version) FROM order_timeline WHERE order_id = $1",
            Model::Sales => "SELECT version FROM sales_orders WHERE order_id = $1",
        }
    }
}

const RECHECK: Duration = Duration::from_millis(250);

/// Most consistency waits of one request that check the database at once; the others
/// queue for a turn within the same deadline.
pub const WAITS_PER_REQUEST: usize = 4;

/// What one GraphQL request may spend waiting for freshness, whatever it asks: one
/// deadline (set by its first wait) shared by all its waits, and [`WAITS_PER_REQUEST`]
/// turns at the database. 200 aliases that each wait cost what 4 waits cost.
#[derive(Clone)]
pub struct WaitBudget(Arc<BudgetInner>);

struct BudgetInner {
    deadline: OnceLock<Instant>,
    turns: Semaphore,
}

impl Default for WaitBudget {
    fn default() -> Self {
        Self(Arc::new(BudgetInner {
            deadline: OnceLock::new(),
            turns: Semaphore::new(WAITS_PER_REQUEST),
        }))
    }
}

#[derive(Clone)]
pub struct Freshness {
    pub pool: PgPool,
    pub feed: ChangeFeed,
    pub max_wait: Duration,
}

impl Freshness {
    /// Returns once `model` holds `wanted.order_id` at `wanted.version` or later, within
    /// the request's `budget` (a request without one gets a budget of its own).
    pub async fn wait(
        &self,
        budget: Option<&WaitBudget>,
        model: Model,
        wanted: Wanted,
    ) -> Result<(), ApiError> {
        let own = WaitBudget::default();
        let budget = budget.unwrap_or(&own);
        let started = Instant::now();
        let deadline = *budget.0.deadline.get_or_init(|| started + self.max_wait);
        let behind = || ApiError::Behind {
            projection: model.projection(),
            wanted: format!("{}@{}", wanted.order_id, wanted.version),
            waited_ms: started.elapsed().as_millis(),
        };
        let turn = tokio::time::timeout_at(deadline.into(), budget.0.turns.acquire())
            .await
            .map_err(|_| behind())?
            .map_err(|_| behind())?;
        // Subscribe before the first read, so a signal between the two is not missed.
        let mut changes = self.feed.subscribe();
        let _turn = turn;
        loop {
            metrics::counter!("orderlog_query_freshness_checks_total").increment(1);
            let version: Option<i64> = sqlx::query_scalar(model.version_sql())
                .bind(wanted.order_id)
                .fetch_optional(&self.pool)
                .await?
                .flatten();
            if version.is_some_and(|v| v >= wanted.version) {
                metrics::histogram!("orderlog_query_freshness_wait_seconds")
                    .record(started.elapsed().as_secs_f64());
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(behind());
            }
            let slice = RECHECK.min(deadline - now);
            let _ = tokio::time::timeout(slice, async {
                loop {
                    match changes.recv().await {
                        Ok(change) if change.may_touch(model.projection(), wanted.order_id) => {
                            return;
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => return,
                        Err(RecvError::Closed) => return std::future::pending().await,
                    }
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_strictly() {
        let id = Uuid::now_v7();
        assert_eq!(
            Wanted::parse_token(&format!("{id}@3")).ok(),
            Some(Wanted {
                order_id: id,
                version: 3
            })
        );
        for bad in [
            "",
            "3",
            &format!("{id}@0"),
            &format!("{id}@x"),
            "nope@2",
            &format!("{id}"),
        ] {
            assert!(
                matches!(Wanted::parse_token(bad), Err(ApiError::BadInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_token_and_a_minimum_version_combine_to_the_stricter() {
        let id = Uuid::now_v7();
        let token = format!("{id}@4");
        let wanted = Wanted::from_args(Some(id), Some(&token), Some(2)).expect("valid");
        assert_eq!(
            wanted,
            Some(Wanted {
                order_id: id,
                version: 4
            })
        );
        let wanted = Wanted::from_args(Some(id), None, Some(7)).expect("valid");
        assert_eq!(
            wanted,
            Some(Wanted {
                order_id: id,
                version: 7
            })
        );
        assert!(
            Wanted::from_args(Some(Uuid::nil()), Some(&token), None).is_err(),
            "token of another order"
        );
        assert_eq!(Wanted::from_args(None, None, None).expect("valid"), None);
    }
}
