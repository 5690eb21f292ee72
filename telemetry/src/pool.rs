//! How full a database pool is, as gauges sampled once a second:
//! `orderlog_db_pool_connections{pool, state="busy"|"idle"}` and
//! `orderlog_db_pool_max_connections{pool}`. A pool whose busy connections stay at its
//! maximum makes requests queue for a connection (and then time out): the dashboard's
//! "Database pool" panel shows it before the errors do.
//!
//! This crate knows no database driver: the service hands over a closure reading its pool.

use std::time::Duration;

/// One reading of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections open, busy or idle.
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

impl PoolUse {
    pub fn busy(self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

const EVERY: Duration = Duration::from_secs(1);

/// Samples `read` every second until it answers `None` (the pool was closed).
pub fn watch(pool: &'static str, read: impl Fn() -> Option<PoolUse> + Send + 'static) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(reading) = read() else {
                return;
            };
            record(pool, reading);
        }
    });
}

fn record(pool: &'static str, reading: PoolUse) {
    metrics::gauge!("orderlog_db_pool_connections", "pool" => pool, "state" => "busy")
        .set(f64::from(reading.busy()));
    metrics::gauge!("orderlog_db_pool_connections", "pool" => pool, "state" => "idle")
        .set(f64::from(reading.idle));
    metrics::gauge!("orderlog_db_pool_max_connections", "pool" => pool).set(f64::from(reading.max));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_open_minus_idle_and_never_negative() {
        let reading = PoolUse {
            open: 5,
            idle: 2,
            max: 8,
        };
        assert_eq!(reading.busy(), 3);
        // sqlx reads size and idle count apart: idle can briefly exceed the size read before
        let racing = PoolUse {
            open: 1,
            idle: 2,
            max: 8,
        };
        assert_eq!(racing.busy(), 0);
    }
}
