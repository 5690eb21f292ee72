//! Who may read: every query and subscription refuses a request with no token (401), a bad
//! token (401), a token without `orders:read` (403); a customer's token sees that customer's
//! orders only, in every query, connection, count, report and subscription; operators alone
//! read `/metrics`.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use guard::Scope;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::subscriptions::{Socket, connect, next_json};
use crate::support::*;

/// One query per root field (the test fails when a field is added without one here).
fn root_queries(order: &str) -> Vec<(&'static str, String)> {
    vec![
        ("order", format!(r#"{{ order(id: "{order}") {{ id }} }}"#)),
        ("orders", "{ orders(first: 1) { totalCount } }".to_owned()),
        ("customer", r#"{ customer(id: "alice") { id } }"#.to_owned()),
        (
            "dailySales",
            r#"{ dailySales(from: "2026-01-01", to: "2026-01-02") { day } }"#.to_owned(),
        ),
        (
            "topProducts",
            "{ topProducts(limit: 1) { sku } }".to_owned(),
        ),
        ("projections", "{ projections { name } }".to_owned()),
    ]
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn ask(
    platform: &Platform,
    authorization: Option<&str>,
    query: &str,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/graphql", platform.query))
        .json(&json!({ "query": query }));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, challenge, response.json().await.expect("json"))
}

/// A subscription's first answer over a connection initialised with `payload`: the close
/// frame's reason when the connection is refused, else the first message.
async fn first_answer(platform: &Platform, payload: Value, query: &str) -> Value {
    let mut socket = connect(platform, payload).await;
    match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => {
            return json!({ "closed": frame.reason.to_string() });
        }
        Ok(Some(Ok(Message::Text(text)))) => {
            let ack: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(ack["type"], "connection_ack", "{ack}");
        }
        other => panic!("unexpected first frame: {other:?}"),
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    next_json(&mut socket).await
}

#[tokio::test]
async fn every_query_and_subscription_refuses_callers_without_a_good_read_token() {
    let platform = Platform::start().await;
    let order = uuid::Uuid::new_v4().to_string();
    let writer = bearer(&testkit::auth::token(
        "writer",
        &[Scope::Write, Scope::Admin],
        None,
    ));
    let forged = testkit::auth::forged_authorization();
    let schema_fields = platform
        .data("{ __schema { queryType { fields { name } } } }", json!({}))
        .await;
    let fields: Vec<&str> = schema_fields["__schema"]["queryType"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    let queries = root_queries(&order);
    assert_eq!(
        fields.len(),
        queries.len(),
        "a query per root field: {fields:?}"
    );
    for (field, query) in &queries {
        assert!(fields.contains(field), "{field}");
        let (status, challenge, body) = ask(&platform, None, query).await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "UNAUTHENTICATED"),
            "{field}: {body}"
        );
        assert!(challenge.is_some_and(|c| c.starts_with("Bearer")));
        let (status, challenge, body) = ask(&platform, Some(&forged), query).await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "INVALID_TOKEN"),
            "{field}: {body}"
        );
        assert!(challenge.is_some_and(|c| c.contains("bad signature")));
        let (status, challenge, body) = ask(&platform, Some(&writer), query).await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "FORBIDDEN"),
            "{field}: {body}"
        );
        assert!(challenge.is_some_and(|c| c.contains(r#"scope="orders:read""#)));
        assert!(body.get("data").is_none(), "{body}");
        // The suite's token (every scope) is served.
        let (status, _, body) = ask(&platform, Some(&testkit::auth::authorization()), query).await;
        assert_eq!(status, 200, "{field}: {body}");
        assert!(body.get("errors").is_none(), "{field}: {body}");
    }
    let subscriptions = [
        format!(r#"subscription {{ orderUpdated(id: "{order}") {{ id }} }}"#),
        r#"subscription { ordersUpdated(customerId: "alice") { id } }"#.to_owned(),
    ];
    for query in &subscriptions {
        for (payload, code) in [
            (json!({}), "UNAUTHENTICATED"),
            (json!({ "Authorization": forged }), "INVALID_TOKEN"),
            (json!({ "Authorization": writer }), "FORBIDDEN"),
        ] {
            let answer = first_answer(&platform, payload, query).await;
            assert!(
                answer["closed"]
                    .as_str()
                    .is_some_and(|r| r.starts_with(code)),
                "{query}: {answer}"
            );
        }
    }
    // The GraphiQL page and the health check need no token; metrics need an operator.
    let plain = reqwest::Client::new();
    assert_eq!(
        plain
            .get(format!("{}/healthz", platform.query))
            .send()
            .await
            .expect("sent")
            .status(),
        200
    );
    assert_eq!(
        plain
            .get(format!("{}/metrics", platform.query))
            .send()
            .await
            .expect("sent")
            .status(),
        401
    );
    let reader = bearer(&testkit::auth::token("reader", &[Scope::Read], None));
    let metrics = plain
        .get(format!("{}/metrics", platform.query))
        .header("authorization", &reader)
        .send()
        .await
        .expect("sent");
    assert_eq!(metrics.status(), 403);
    let ready: Value = plain
        .get(format!("{}/readyz", platform.query))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(ready, json!({ "ready": true }));
    platform.stop().await;
}

#[tokio::test]
async fn a_customer_token_sees_only_that_customers_orders_everywhere() {
    let platform = Platform::start().await;
    let alices = platform.place("alice", "EUR", &[("A-1", 1, 100)]).await;
    let _second = platform.place("alice", "EUR", &[("A-2", 1, 100)]).await;
    let bobs = platform.place("bob", "EUR", &[("B-1", 1, 700)]).await;
    let bob_order = bobs["order_id"].as_str().expect("id").to_owned();
    let alice_order = alices["order_id"].as_str().expect("id").to_owned();
    platform
        .caught_up(bobs["consistency_token"].as_str().expect("token"), "bob")
        .await;
    platform
        .caught_up(
            alices["consistency_token"].as_str().expect("token"),
            "alice",
        )
        .await;
    let alice = bearer(&testkit::auth::token(
        "alice-app",
        &[Scope::Read],
        Some("alice"),
    ));
    let as_alice = |query: String| {
        let (platform, alice) = (&platform, alice.clone());
        async move { ask(platform, Some(&alice), &query).await.2 }
    };

    // Bob's order is no order to Alice, with or without a consistency token.
    let body = as_alice(format!(
        r#"{{ order(id: "{bob_order}") {{ id customerId }} }}"#
    ))
    .await;
    assert_eq!(body["data"]["order"], Value::Null, "{body}");
    let body = as_alice(format!(
        r#"{{ order(id: "{bob_order}", minVersion: 1) {{ id lines {{ sku }} }} }}"#
    ))
    .await;
    assert_eq!(body["data"]["order"], Value::Null, "{body}");
    let body = as_alice(format!(r#"{{ order(id: "{alice_order}") {{ id customer {{ id orders(first: 10) {{ totalCount }} }} }} }}"#)).await;
    assert_eq!(
        body["data"]["order"]["customer"]["orders"]["totalCount"],
        json!(2),
        "{body}"
    );

    // Lists and their counts hold Alice's orders only, whatever the filter asks.
    let body =
        as_alice("{ orders(first: 10) { totalCount nodes { customerId } } }".to_owned()).await;
    assert_eq!(body["data"]["orders"]["totalCount"], json!(2), "{body}");
    let customers: Vec<&str> = body["data"]["orders"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["customerId"].as_str())
        .collect();
    assert_eq!(customers, ["alice", "alice"], "{body}");
    let body = as_alice(
        r#"{ orders(first: 10, filter: { customerId: "bob" }) { totalCount nodes { id } } }"#
            .to_owned(),
    )
    .await;
    assert_eq!(body["data"]["orders"]["totalCount"], json!(0), "{body}");
    assert_eq!(body["data"]["orders"]["nodes"], json!([]), "{body}");

    // Another customer is nobody; one's own is there.
    let body = as_alice(r#"{ customer(id: "bob") { id stats { orders } } }"#.to_owned()).await;
    assert_eq!(body["data"]["customer"], Value::Null, "{body}");
    let body =
        as_alice(r#"{ customer(id: "alice") { id orders(first: 5) { totalCount } } }"#.to_owned())
            .await;
    assert_eq!(
        body["data"]["customer"]["orders"]["totalCount"],
        json!(2),
        "{body}"
    );

    // The reports span every customer: closed to a customer's token.
    for report in [
        r#"{ dailySales(from: "2026-01-01", to: "2026-01-02") { day } }"#,
        "{ topProducts(limit: 5) { sku } }",
    ] {
        let body = as_alice(report.to_owned()).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    }

    // Subscriptions: following Bob is refused; Bob's order never changes to Alice.
    let payload = json!({ "Authorization": alice });
    let answer = first_answer(
        &platform,
        payload.clone(),
        r#"subscription { ordersUpdated(customerId: "bob") { id } }"#,
    )
    .await;
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{answer}"
    );
    assert_eq!(answer["payload"]["data"], Value::Null, "{answer}");
    let mut socket: Socket = connect(&platform, payload).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    for (id, order) in [("bob", &bob_order), ("alice", &alice_order)] {
        let subscribe = json!({ "id": id, "type": "subscribe", "payload": {
            "query": format!(r#"subscription {{ orderUpdated(id: "{order}") {{ id version }} }}"#) } });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .expect("subscribe");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    platform.pay(&bob_order, 700, "EUR").await;
    platform.pay(&alice_order, 100, "EUR").await;
    let next = next_json(&mut socket).await;
    assert_eq!(
        next["id"], "alice",
        "Alice hears of her order, not Bob's: {next}"
    );
    platform.stop().await;
}
