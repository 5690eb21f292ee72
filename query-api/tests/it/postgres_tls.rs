//! The platform on a PostgreSQL that takes only TLS connections: the projectors write and
//! query-api reads (and listens) over TLS, verifying the server's certificate
//! (`sslmode=verify-full&sslrootcert=...` in the URLs); a connection without TLS is refused.

use serde_json::json;
use sqlx::Connection;
use testkit::postgres::Postgres;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_side_runs_on_a_postgresql_that_takes_only_tls() {
    let server = tokio::task::spawn_blocking(Postgres::start_tls)
        .await
        .expect("postgres");
    let plain = format!("{}?sslmode=disable", server.url());
    let refused = sqlx::PgConnection::connect(&plain).await;
    assert!(refused.is_err(), "a connection without TLS was accepted");

    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.url(),
        server.ca_file().display()
    );
    let mut connection = sqlx::PgConnection::connect(&url)
        .await
        .expect("a TLS connection");
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut connection)
            .await
            .expect("pg_stat_ssl");
    assert!(encrypted);

    let platform = Platform::start_on(url, |_| {}).await;
    let placed = platform.place("tls", "EUR", &[("T-1", 1, 300)]).await;
    platform
        .caught_up(placed["consistency_token"].as_str().expect("token"), "tls")
        .await;
    let data = platform
        .data(
            "query($id: ID!) { order(id: $id) { total { minorUnits } } }",
            json!({ "id": placed["order_id"] }),
        )
        .await;
    assert_eq!(data["order"]["total"]["minorUnits"], 300);
    platform.stop().await;
    drop(server);
}
