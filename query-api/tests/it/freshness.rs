//! Read-your-writes: a query with a command's consistency token sees that command's write;
//! past the bound, a clear error instead of stale data.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_query_with_the_token_of_a_command_sees_its_write() {
    let platform = Platform::start().await;
    let placed = platform.place("rw", "EUR", &[("R-1", 1, 100)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let query = "query($id: ID!, $t: String) { order(id: $id, consistencyToken: $t) { version lineCount history { version } } }";
    for n in 2..=6_i64 {
        // Each command is followed at once by a query with its token.
        let answer = platform
            .command(Method::POST, &format!("/v1/orders/{id}/lines"), json!({ "sku": format!("R-{n}"), "quantity": 1, "unit_price": { "amount_minor": 100, "currency": "EUR" } }))
            .await;
        let token = answer["consistency_token"].as_str().expect("token");
        let data = platform.data(query, json!({ "id": id, "t": token })).await;
        assert_eq!(data["order"]["version"], n, "{data}");
        assert_eq!(data["order"]["lineCount"], n);
        assert_eq!(
            data["order"]["history"].as_array().expect("history").len(),
            usize::try_from(n).expect("small")
        );
    }
    let orders = platform
        .data("query($t: String) { orders(consistencyToken: $t, filter: {customerId: \"rw\"}) { nodes { version } } }", json!({ "t": format!("{id}@6") }))
        .await;
    assert_eq!(orders["orders"]["nodes"], json!([{ "version": 6 }]));

    let min_version = platform
        .data(
            "query($id: ID!) { order(id: $id, minVersion: 6) { version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(min_version["order"]["version"], 6);

    let bad = platform
        .graphql(query, json!({ "id": id, "t": "yesterday" }))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
    platform.stop().await;
}

#[tokio::test]
async fn a_version_the_read_model_does_not_reach_in_time_is_a_clear_error() {
    let platform = Platform::start_with(|config| config.freshness_wait_ms = 300).await;
    let placed = platform.place("late", "EUR", &[("L-1", 1, 100)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let body = platform
        .graphql(
            "query($id: ID!, $t: String) { order(id: $id, consistencyToken: $t) { version } }",
            json!({ "id": id, "t": format!("{id}@9") }),
        )
        .await;
    assert_eq!(error_code(&body), "READ_MODEL_BEHIND", "{body}");
    assert_eq!(
        body["data"]["order"],
        serde_json::Value::Null,
        "no stale data beside the error"
    );
    let message = body["errors"][0]["message"].as_str().expect("message");
    assert!(message.contains("behind"), "{message}");
    platform.stop().await;
}
