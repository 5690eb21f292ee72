//! The read cache: `order(id)` with its lines served from memory, and never older than what
//! the change signals announced.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

const ORDER: &str = "query($id: ID!, $t: String) { order(id: $id, consistencyToken: $t) { version customerId lines { sku } } }";

/// Changes the read model behind the cache's back: no change signal names the order.
async fn rename_customer_quietly(database: &str, id: &str) {
    let pool = sqlx::PgPool::connect(database).await.expect("connect");
    sqlx::query("UPDATE orders SET customer_id = 'behind-the-back' WHERE order_id = $1")
        .bind(uuid::Uuid::parse_str(id).expect("uuid"))
        .execute(&pool)
        .await
        .expect("update");
    pool.close().await;
}

/// Places an order for `customer` and reads it with the answer's token (version 1, read
/// once the projection holds it); returns its id.
async fn placed_and_read(platform: &Platform, customer: &str) -> String {
    let placed = platform.place(customer, "EUR", &[("K-1", 1, 100)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let token = placed["consistency_token"].as_str().expect("token");
    let first = platform.data(ORDER, json!({ "id": id, "t": token })).await;
    assert_eq!(first["order"]["version"], 1, "{first}");
    id
}

#[tokio::test]
async fn an_order_is_served_from_the_cache_until_a_change_signal_names_it() {
    let database = testkit::fresh_database().await;
    let platform = Platform::start_on(database.clone(), |_| {}).await;
    let id = placed_and_read(&platform, "cache-1").await;
    rename_customer_quietly(&database, &id).await;
    let cached = platform.data(ORDER, json!({ "id": id })).await;
    assert_eq!(
        cached["order"]["customerId"], "cache-1",
        "served from the cache, not the database: {cached}"
    );

    // A command: its projection's signal evicts the entry.
    let answer = platform
        .command(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            json!({ "sku": "K-2", "quantity": 1, "unit_price": { "amount_minor": 100, "currency": "EUR" } }),
        )
        .await;
    let token = answer["consistency_token"].as_str().expect("token");
    // Without a token, the cached version 1 is served until the signal of version 2 evicts
    // it; then the database answers. (An entry never evicted would stay at version 1.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let read = platform.data(ORDER, json!({ "id": id })).await;
        if read["order"]["version"] == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {read}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let fresh = platform.data(ORDER, json!({ "id": id, "t": token })).await;
    assert_eq!(fresh["order"]["version"], 2, "{fresh}");
    assert_eq!(
        fresh["order"]["customerId"], "behind-the-back",
        "read again: {fresh}"
    );
    assert_eq!(
        fresh["order"]["lines"],
        json!([{ "sku": "K-1" }, { "sku": "K-2" }])
    );
    // Whoever saw version 2 never sees version 1 again, from the cache or the database.
    for _ in 0..20 {
        let again = platform.data(ORDER, json!({ "id": id })).await;
        assert_eq!(again["order"]["version"], 2, "{again}");
    }
    platform.stop().await;
}

#[tokio::test]
async fn with_the_cache_off_every_read_goes_to_the_database() {
    let database = testkit::fresh_database().await;
    let platform = Platform::start_on(database.clone(), |config| config.cache_bytes = 0).await;
    let id = placed_and_read(&platform, "cache-2").await;
    rename_customer_quietly(&database, &id).await;
    let read = platform.data(ORDER, json!({ "id": id })).await;
    assert_eq!(read["order"]["customerId"], "behind-the-back", "{read}");
    platform.stop().await;
}

/// `query` with a token limited to `customer`; the whole answer.
async fn as_customer(platform: &Platform, customer: &str, query: &str) -> serde_json::Value {
    let token = testkit::auth::token("cache-app", &[guard::Scope::Read], Some(customer));
    reqwest::Client::new()
        .post(format!("{}/graphql", platform.query))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn kept_answers_go_to_no_caller_limited_to_another_customer() {
    let platform = Platform::start().await;
    let id = placed_and_read(&platform, "alice").await;
    let order = format!(r#"{{ order(id: "{id}") {{ id customerId lines {{ sku }} }} }}"#);
    let page =
        r#"{ orders(first: 10, filter: { customerId: "alice" }) { totalCount nodes { id } } }"#;
    let hits = || async {
        testkit::metrics::sum(
            &platform.metrics_page().await,
            "orderlog_query_answer_cache_hits_total",
        )
    };
    for _ in 0..2 {
        platform.data(&order, json!({})).await;
        platform.data(page, json!({})).await;
    }
    let kept = hits().await;
    assert!(
        kept >= 2.0,
        "the operator's second reads are kept answers: {kept}"
    );

    let bob = as_customer(&platform, "bob", &order).await;
    assert_eq!(bob["data"]["order"], serde_json::Value::Null, "{bob}");
    let bob = as_customer(&platform, "bob", page).await;
    assert_eq!(bob["data"]["orders"]["totalCount"], 0, "{bob}");
    let alice = as_customer(&platform, "alice", &order).await;
    assert_eq!(alice["data"]["order"]["id"], id, "{alice}");
    let alice = as_customer(&platform, "alice", page).await;
    assert_eq!(alice["data"]["orders"]["totalCount"], 1, "{alice}");
    platform.stop().await;
}

#[tokio::test]
async fn a_page_is_kept_until_the_next_change_signal_of_the_orders() {
    let database = testkit::fresh_database().await;
    let platform = Platform::start_on(database.clone(), |_| {}).await;
    let id = placed_and_read(&platform, "pager").await;
    let page = "{ orders(first: 10) { totalCount nodes { id customerId } } }";
    let first = platform.data(page, json!({})).await;
    assert_eq!(
        first["orders"]["nodes"][0]["customerId"], "pager",
        "{first}"
    );
    rename_customer_quietly(&database, &id).await;
    let kept = platform.data(page, json!({})).await;
    assert_eq!(kept, first, "a kept answer, not the database");

    // Another order: its signal ends every kept page.
    platform.place("pager-2", "EUR", &[("K-1", 1, 100)]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let read = platform.data(page, json!({})).await;
        if read["orders"]["totalCount"] == 2 {
            let renamed = read["orders"]["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .any(|n| n["customerId"] == "behind-the-back");
            assert!(renamed, "read again from the database: {read}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {read}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    platform.stop().await;
}
