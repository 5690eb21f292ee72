//! PostgreSQL restarted under query-api: while it is gone a query gets a GraphQL error
//! (no hang, no crash); once it is back, queries answer again with no restart. query-api
//! never talks to Kafka, so a Kafka outage does not reach it at all.

use std::time::{Duration, Instant};

use serde_json::json;
use testkit::postgres::{Postgres, Shutdown};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_again_once_postgresql_is_back() {
    let server = tokio::task::spawn_blocking(Postgres::start_fresh)
        .await
        .expect("postgres");
    let platform = Platform::start_on(server.url(), |_| {}).await;
    let placed = platform.place("cust-out", "EUR", &[("A-1", 1, 700)]).await;
    let token = placed["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    platform.caught_up(&token, "cust-out").await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let query = "query($id: ID!) { order(id: $id) { id total { minorUnits } } }";

    tokio::task::block_in_place(|| server.stop(Shutdown::Fast));
    let down = tokio::time::timeout(
        Duration::from_secs(30),
        platform.graphql(query, json!({ "id": id })),
    )
    .await
    .expect("an answer, not a hang, while the database is down");
    assert_eq!(error_code(&down), "DATABASE_UNAVAILABLE", "{down}");
    // Several kinds of queries, each with the same stable code (never INTERNAL).
    for query in [
        "{ orders(first: 5) { totalCount nodes { id } } }",
        r#"{ customer(id: "cust-out") { id stats { orders } } }"#,
        r#"{ dailySales(from: "2026-01-01", to: "2026-01-03") { day } }"#,
        "{ topProducts(limit: 3) { sku } }",
        "{ projections { name } }",
    ] {
        let body = platform.graphql(query, json!({})).await;
        assert_eq!(error_code(&body), "DATABASE_UNAVAILABLE", "{query}: {body}");
    }

    tokio::task::block_in_place(|| server.start());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = platform.graphql(query, json!({ "id": id })).await;
        if body.get("errors").is_none() {
            assert_eq!(body["data"]["order"]["total"]["minorUnits"], 700);
            break;
        }
        assert_eq!(
            error_code(&body),
            "DATABASE_UNAVAILABLE",
            "while it comes back: {body}"
        );
        assert!(
            Instant::now() < deadline,
            "still failing after PostgreSQL came back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The write side and the projectors recovered too: a new order reaches the read models.
    let again = platform.place("cust-out", "EUR", &[("B-2", 2, 100)]).await;
    platform
        .caught_up(
            again["consistency_token"].as_str().expect("token"),
            "cust-out",
        )
        .await;
    platform.stop().await;
}
