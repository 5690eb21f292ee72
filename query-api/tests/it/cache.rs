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
