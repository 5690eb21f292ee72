//! The read pool: its own connection settings, read-only sessions, so that it can point at
//! a replica and can never write.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// Opens the read pool. Every session is `default_transaction_read_only`, so a bug here
/// cannot change a read model; statements are bounded by a server-side timeout.
pub async fn connect_read_only(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("orderlog-query-api")
        .options([
            ("default_transaction_read_only", "on"),
            ("statement_timeout", "10s"),
        ]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1.min(max_connections))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
}
