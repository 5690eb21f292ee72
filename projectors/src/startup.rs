//! Reaching PostgreSQL at start-up: the projectors serve `/readyz` at once, then wait for
//! the database for as long as it takes (capped, jittered backoff), logging each failed
//! attempt with where they connect (never the password) and why it failed, and saying the
//! same in `/readyz`; then they bring the schema up to date.

use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use event_store::Backoff;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Connection};

use crate::db;

/// What start-up is doing, for `/readyz` until the projections run.
#[derive(Debug, Default)]
pub struct Startup {
    waiting: Mutex<Option<Value>>,
}

impl Startup {
    /// What start-up waits for now, if anything.
    pub fn waiting(&self) -> Option<Value> {
        self.waiting.lock().ok().and_then(|w| w.clone())
    }

    fn wait(&self, what: Value) {
        if let Ok(mut waiting) = self.waiting.lock() {
            *waiting = Some(what);
        }
    }

    fn done(&self) {
        if let Ok(mut waiting) = self.waiting.lock() {
            *waiting = None;
        }
    }
}

/// `host:port/database` of `url`, without credentials.
pub fn target(url: &str) -> String {
    PgConnectOptions::from_str(url).map_or_else(
        |_| "an unparsable database URL".to_owned(),
        |o| {
            format!(
                "{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or_default()
            )
        },
    )
}

/// A pool on `url` once the server takes a connection, and the schema migrated; waits out
/// every transient failure. A URL that does not parse, or a migration that fails for
/// another reason than an outage, is an error.
pub async fn connect(url: &str, max_connections: u32, startup: &Startup) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?;
    let target = target(url);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let started = Instant::now();
    loop {
        let attempt = async {
            // One connection first: it fails at once with its cause, where a pool would
            // retry silently until its acquire timeout.
            options.connect().await?.close().await?;
            let pool = db::connect(url, max_connections).await?;
            db::migrate(&pool).await.map_err(sqlx::Error::from)?;
            Ok::<_, sqlx::Error>(pool)
        };
        match attempt.await {
            Ok(pool) => {
                startup.done();
                tracing::info!(database = %target, waited_s = started.elapsed().as_secs(), "connected to PostgreSQL; schema up to date");
                return Ok(pool);
            }
            Err(error) if db::is_transient(&error) || is_outage(&error) => {
                let delay = backoff.next_delay();
                tracing::warn!(database = %target, %error, retry_in_ms = delay.as_millis() as u64, waited_s = started.elapsed().as_secs(), "waiting for PostgreSQL");
                startup.wait(json!({
                    "for": "postgresql",
                    "database": target,
                    "cause": error.to_string(),
                    "since_s": started.elapsed().as_secs(),
                }));
                tokio::time::sleep(delay).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// A migration that failed because the server went away in the middle of it.
fn is_outage(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Migrate(migrate) => match migrate.as_ref() {
            sqlx::migrate::MigrateError::Execute(inner)
            | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => db::is_transient(inner),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_names_the_server_and_database_but_not_the_password() {
        let named = target("postgres://orderlog:s3cret@db.example:6432/orders");
        assert_eq!(named, "db.example:6432/orders");
        assert!(!named.contains("s3cret"));
        assert_eq!(target("not a url"), "an unparsable database URL");
    }
}
