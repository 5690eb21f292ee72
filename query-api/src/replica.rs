//! Reading from a replica: the change signal comes from the primary, where the projectors
//! commit, and arrives before a streaming replica has replayed the rows it announces. A
//! subscription or a read-your-writes wait that read the replica on the signal alone would
//! see the old rows and then wait for a signal that may never come. So the change feed
//! holds each signal until the replica has replayed the primary's write-ahead log up to
//! where it stood when the signal was received (the commit is before it), then passes it on.
//!
//! Metrics: `orderlog_query_replica_wait_seconds` (how long signals were held),
//! `orderlog_query_replica_lag_seconds` (sampled every second: 0 when the replica has
//! replayed all it received, else the age of the last transaction it replayed),
//! `orderlog_query_replica_held_too_long_total` (signals passed on after [`HOLD_MAX`]
//! without the replica catching up: readers then rely on their own re-checks).

use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// Longest a signal is held for the replica.
pub const HOLD_MAX: Duration = Duration::from_secs(5);

/// The first pause between two looks at the replica; it doubles up to [`POLL_MAX`].
const POLL_FIRST: Duration = Duration::from_millis(1);
const POLL_MAX: Duration = Duration::from_millis(20);

/// The replica the read pool reads, and how to tell how far it has replayed.
#[derive(Clone)]
pub struct ReplicaGate {
    replica: PgPool,
}

impl ReplicaGate {
    /// A gate on the read pool's server; it also starts the lag sampler.
    pub fn new(replica: PgPool) -> Self {
        tokio::spawn(sample_lag(replica.clone()));
        Self { replica }
    }

    /// Where the primary's write-ahead log stands now, asked on the LISTEN connection
    /// (so of the primary the signal came from).
    pub async fn primary_position(listener: &mut PgListener) -> Result<String, sqlx::Error> {
        sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(listener)
            .await
    }

    /// Waits until the replica has replayed up to `position`, at most [`HOLD_MAX`]. A
    /// server that is not in recovery (no replica, or one promoted since) has everything.
    pub async fn wait_replayed(&self, position: &str) -> Result<(), sqlx::Error> {
        let started = Instant::now();
        let mut pause = POLL_FIRST;
        loop {
            let replayed: bool = sqlx::query_scalar(
                "SELECT NOT pg_is_in_recovery() OR coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)",
            )
            .bind(position)
            .fetch_one(&self.replica)
            .await?;
            if replayed {
                metrics::histogram!("orderlog_query_replica_wait_seconds")
                    .record(started.elapsed().as_secs_f64());
                return Ok(());
            }
            if started.elapsed() >= HOLD_MAX {
                metrics::counter!("orderlog_query_replica_held_too_long_total").increment(1);
                tracing::warn!(
                    position,
                    "the replica has not replayed the change signal's position in 5 s; passing the signal on"
                );
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}

/// Samples the replica's lag every second for as long as its pool is open.
async fn sample_lag(replica: PgPool) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !replica.is_closed() {
        every.tick().await;
        let lag: Result<Option<f64>, _> = sqlx::query_scalar(
            "SELECT CASE
                 WHEN NOT pg_is_in_recovery() THEN 0::float8
                 WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8
                 ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
             END",
        )
        .fetch_one(&replica)
        .await;
        if let Ok(Some(lag)) = lag {
            metrics::gauge!("orderlog_query_replica_lag_seconds").set(lag.max(0.0));
        }
    }
}
