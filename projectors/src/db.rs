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

/// An error that goes away on its own: the server restarting, out of reach, or refusing
/// connections for a while, or a conflict with another transaction. Anything else (a
/// statement the data makes fail) would fail again the same way.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| is_transient_state(&code)),
        _ => false,
    }
}

/// SQLSTATEs of outages and conflicts: connection exceptions (08), operator intervention
/// such as a shutdown (57P01-57P05), insufficient resources (53), serialization failures
/// and deadlocks (40001, 40P01), a lock not available (55P03).
fn is_transient_state(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "40001" | "40P01" | "55P03")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_transient_and_data_errors_are_not() {
        for code in ["08006", "57P01", "57P03", "53300", "40001", "40P01"] {
            assert!(is_transient_state(code), "{code}");
        }
        for code in ["22003", "23505", "42P01", "22P02"] {
            assert!(!is_transient_state(code), "{code}");
        }
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }
}
