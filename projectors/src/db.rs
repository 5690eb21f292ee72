//! Connecting to PostgreSQL and applying the read-model schema.

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};

/// The read-model schema, embedded at build time from `projectors/migrations`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Opens a pool to `url` with at most `max_connections` connections.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .connect(url)
        .await
}

/// Brings the database's schema up to date; safe to run at every start.
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(pool).await
}
