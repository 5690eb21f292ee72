//! Waiting for the live projectors to catch up, so that one benchmark's backlog is not
//! measured as the next one's slowness. The lag observer records each partition's end
//! once a second, and `projection_lag` counts from it: after the load stops, the settle
//! waits past one observation, then until every projection's lag is zero.

use std::time::{Duration, Instant};

use sqlx::PgPool;

/// Longer than the lag observer's interval, so its last observation saw the load's end.
const OBSERVED: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_millis(250);

/// Waits until the projectors' lag is zero, at most `bound`; how long that took, or
/// `None` when the bound passed first (the caller records it and goes on).
pub(crate) async fn projectors(pool: &PgPool, bound: Duration) -> anyhow::Result<Option<Duration>> {
    let started = Instant::now();
    tokio::time::sleep(OBSERVED).await;
    loop {
        let lag: i64 = sqlx::query_scalar("SELECT coalesce(max(lag), 0)::int8 FROM projection_lag")
            .fetch_one(pool)
            .await?;
        if lag == 0 {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() > bound {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}
