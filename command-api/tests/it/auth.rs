//! Who may call: every command route refuses a request with no token (401), a bad token
//! (401), a token without `orders:write` (403); a customer's token commands only that
//! customer's orders; operators (`orders:admin`) alone read `/metrics` and readiness
//! details; a subject past its rate limit gets 429 and recovers.

use std::time::Duration;

use guard::Scope;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// Every command operation of the checked-in OpenAPI document, with a path that names an
/// order (which need not exist: refusal comes first).
fn operations() -> Vec<(Method, String)> {
    let document: Value =
        serde_json::from_str(include_str!("../../../schemas/openapi/command-api.json"))
            .expect("the OpenAPI document");
    let order = uuid::Uuid::new_v4().to_string();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("methods").keys() {
            let path = path.replace("{id}", &order).replace("{sku}", "A-1");
            operations.push((
                Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                path,
            ));
        }
    }
    assert_eq!(operations.len(), 8, "{operations:?}");
    operations
}

async fn send_as(
    app: &TestApp,
    authorization: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", app.base));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("sent")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn problem(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    (
        status,
        challenge,
        response.json().await.expect("problem+json"),
    )
}

#[tokio::test]
async fn every_route_refuses_a_caller_without_a_good_token_with_the_write_scope() {
    let app = TestApp::spawn().await;
    let read_only = bearer(&testkit::auth::token(
        "reader",
        &[Scope::Read, Scope::Admin],
        None,
    ));
    let forged = testkit::auth::forged_authorization();
    let wrong_audience = {
        let mut mint =
            guard::token::Mint::all_scopes("orderlog", "another-api", "x", Duration::from_secs(60));
        mint.scopes = vec![Scope::Write];
        bearer(&mint.hs256(testkit::auth::SECRET.as_bytes()).expect("sign"))
    };
    for (method, path) in operations() {
        let body = Some(place_body());
        let (status, challenge, body_none) =
            problem(send_as(&app, None, method.clone(), &path, body.clone()).await).await;
        assert_eq!(
            (status, body_none["code"].as_str()),
            (401, Some("unauthenticated")),
            "{method} {path}"
        );
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        for (token, reason) in [
            (&forged, "bad signature"),
            (&wrong_audience, "wrong audience"),
        ] {
            let (status, challenge, body) =
                problem(send_as(&app, Some(token), method.clone(), &path, body.clone()).await)
                    .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (401, Some("invalid_token")),
                "{method} {path}"
            );
            assert!(challenge.contains(reason), "{challenge}");
        }
        let (status, challenge, refused) =
            problem(send_as(&app, Some(&read_only), method.clone(), &path, body.clone()).await)
                .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}"
        );
        assert!(challenge.contains(r#"scope="orders:write""#), "{challenge}");
        let (status, _, _) = problem(
            send_as(
                &app,
                Some("Basic dXNlcjpwdw=="),
                method.clone(),
                &path,
                body,
            )
            .await,
        )
        .await;
        assert_eq!(status, 401);
    }
    // The right token works (the suite's client sends one with every scope).
    assert_eq!(app.place(place_body()).await.status, 201);
    app.stop().await;
}

#[tokio::test]
async fn a_customer_token_commands_only_that_customers_orders() {
    let app = TestApp::spawn().await;
    let alice = bearer(&testkit::auth::token(
        "alice-app",
        &[Scope::Write],
        Some("alice"),
    ));
    let bob = bearer(&testkit::auth::token(
        "bob-app",
        &[Scope::Write],
        Some("bob"),
    ));
    let mut for_alice = place_body();
    for_alice["customer_id"] = json!("alice");

    // Bob cannot place an order for Alice.
    let (status, _, body) = problem(
        send_as(
            &app,
            Some(&bob),
            Method::POST,
            "/v1/orders",
            Some(for_alice.clone()),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("customer_mismatch"))
    );

    // Alice places one.
    let placed = reqwest::Client::new()
        .post(format!("{}/v1/orders", app.base))
        .header("authorization", &alice)
        .header("idempotency-key", "shared-key")
        .json(&for_alice)
        .send()
        .await
        .expect("sent");
    assert_eq!(placed.status(), 201);
    let placed: Value = placed.json().await.expect("json");
    let order = placed["order_id"].as_str().expect("id").to_owned();

    // Every command of Bob's on it finds no order, and changes nothing.
    let line = json!({"sku": "C-3", "quantity": 1, "unit_price": money(100)});
    let attempts: [(Method, String, Option<Value>); 7] = [
        (
            Method::POST,
            format!("/v1/orders/{order}/lines"),
            Some(line.clone()),
        ),
        (
            Method::DELETE,
            format!("/v1/orders/{order}/lines/A-1"),
            None,
        ),
        (
            Method::PUT,
            format!("/v1/orders/{order}/shipping-address"),
            Some(json!({"shipping_address": address("Paris")})),
        ),
        (
            Method::POST,
            format!("/v1/orders/{order}/payment"),
            Some(json!({"payment_reference": "pay-1", "amount": money(1250)})),
        ),
        (
            Method::POST,
            format!("/v1/orders/{order}/shipment"),
            Some(json!({"carrier": "DHL", "tracking_number": "TRACK1234"})),
        ),
        (Method::POST, format!("/v1/orders/{order}/delivery"), None),
        (
            Method::POST,
            format!("/v1/orders/{order}/cancellation"),
            Some(json!({"reason": "not mine"})),
        ),
    ];
    for (method, path, body) in &attempts {
        let (status, _, answer) =
            problem(send_as(&app, Some(&bob), method.clone(), path, body.clone()).await).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (404, Some("order_not_found")),
            "{method} {path}: {answer}"
        );
    }
    // Bob retrying Alice's Idempotency-Key lands on an order of his own, not on her answer.
    let mut for_bob = place_body();
    for_bob["customer_id"] = json!("bob");
    let bobs: Value = reqwest::Client::new()
        .post(format!("{}/v1/orders", app.base))
        .header("authorization", &bob)
        .header("idempotency-key", "shared-key")
        .json(&for_bob)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_ne!(bobs["order_id"], json!(order), "{bobs}");

    // Alice's own commands work, at the version Bob's attempts did not move.
    let added = send_as(
        &app,
        Some(&alice),
        Method::POST,
        &format!("/v1/orders/{order}/lines"),
        Some(line),
    )
    .await;
    assert_eq!(added.status(), 200);
    let added: Value = added.json().await.expect("json");
    assert_eq!(added["version"], json!(2), "{added}");
    app.stop().await;
}

#[tokio::test]
async fn only_operators_read_metrics_and_readiness_details() {
    let app = TestApp::spawn().await;
    let writer = bearer(&testkit::auth::token("writer", &[Scope::Write], None));
    let admin = bearer(&testkit::auth::token("ops", &[Scope::Admin], None));
    let metrics = |auth: Option<String>| {
        let app = &app;
        async move { send_as(app, auth.as_deref(), Method::GET, "/metrics", None).await }
    };
    assert_eq!(metrics(None).await.status(), 401);
    assert_eq!(metrics(Some(writer.clone())).await.status(), 403);
    let page = metrics(Some(admin.clone())).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("text").contains("orderlog_"));

    // A load balancer's health check needs no token and learns only whether it is ready.
    let plain: Value = send_as(&app, None, Method::GET, "/readyz", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(plain, json!({ "ready": true }));
    let detailed: Value = send_as(&app, Some(&admin), Method::GET, "/readyz", None)
        .await
        .json()
        .await
        .expect("json");
    assert!(
        detailed.as_object().expect("object").len() > 1,
        "{detailed}"
    );
    assert_eq!(
        send_as(&app, None, Method::GET, "/healthz", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        send_as(&app, None, Method::GET, "/openapi.json", None)
            .await
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn a_subject_past_its_rate_limit_waits_and_then_is_served_again() {
    let mut config = test_config(&unique_prefix(), command_api::config::Role::All);
    config.auth.rate_limit_per_s = 1;
    config.auth.rate_limit_burst = 2;
    let app = TestApp::spawn_with(config).await;
    let limited = bearer(&testkit::auth::token("busy-client", &[Scope::Write], None));
    let other = bearer(&testkit::auth::token("quiet-client", &[Scope::Write], None));
    // Eight requests at once that the service answers fast (an empty body is refused with
    // 422 after admission, so each counts against the limit without waiting on Kafka).
    let answers = futures::future::join_all((0..8).map(|_| {
        send_as(
            &app,
            Some(&limited),
            Method::POST,
            "/v1/orders",
            Some(json!({})),
        )
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status().as_u16()).collect();
    let admitted = statuses.iter().filter(|s| **s == 422).count();
    assert!(
        (2..=4).contains(&admitted),
        "the burst of 2 (plus a refill or two): {statuses:?}"
    );
    let refused = answers
        .into_iter()
        .find(|a| a.status() == 429)
        .unwrap_or_else(|| panic!("some were refused: {statuses:?}"));
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    let (_, _, body) = problem(refused).await;
    assert_eq!(body["code"], "rate_limited");
    // Another subject is not held up by this one.
    assert_eq!(
        send_as(
            &app,
            Some(&other),
            Method::POST,
            "/v1/orders",
            Some(place_body())
        )
        .await
        .status(),
        201
    );
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        send_as(
            &app,
            Some(&limited),
            Method::POST,
            "/v1/orders",
            Some(place_body())
        )
        .await
        .status(),
        201
    );
    app.stop().await;
}

#[tokio::test]
async fn a_service_without_auth_settings_refuses_to_start_and_says_what_to_set() {
    let mut config = test_config(&unique_prefix(), command_api::config::Role::All);
    config.auth = guard::AuthSettings::unconfigured();
    let error = command_api::app::Application::build(config)
        .await
        .err()
        .expect("refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("ORDERLOG_AUTH_DEV=true")
            && message.contains("ORDERLOG_AUTH_HS256_SECRET"),
        "{message}"
    );
}
