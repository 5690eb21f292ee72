//! An order's whole life through HTTP, every rejection code, and every malformed request.

use command_api::config::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn an_order_lives_its_whole_life_through_http() {
    let app = TestApp::spawn().await;
    let placed = app.place(place_body()).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let id = placed.body["order_id"].as_str().expect("id").to_owned();
    assert_eq!(placed.body["version"], 1);
    assert_eq!(
        placed.body["events"][0]["type"],
        "dev.orderlog.order.placed"
    );
    assert_eq!(placed.body["consistency_token"], format!("{id}@1"));
    assert_eq!(placed.headers["etag"], "\"1\"");
    let location = placed.headers["location"].to_str().expect("ascii");
    assert!(
        location.starts_with("http://127.0.0.1:8081/graphql?query=") && location.contains(&id),
        "the query API's read of the order: {location}"
    );

    let steps = [
        (
            Method::POST,
            format!("/v1/orders/{id}/lines"),
            Some(json!({"sku": "C-3", "quantity": 3, "unit_price": money(100)})),
        ),
        (Method::DELETE, format!("/v1/orders/{id}/lines/B-2"), None),
        (
            Method::PUT,
            format!("/v1/orders/{id}/shipping-address"),
            Some(json!({"shipping_address": address("Paris")})),
        ),
        // 1250 + 300 - 250 = 1300
        (
            Method::POST,
            format!("/v1/orders/{id}/payment"),
            Some(json!({"payment_reference": "psp-1", "amount": money(1300)})),
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/shipment"),
            Some(json!({"carrier": "DHL", "tracking_number": "JD0001"})),
        ),
        (Method::POST, format!("/v1/orders/{id}/delivery"), None),
    ];
    for (expected_version, (method, path, body)) in (2..).zip(steps) {
        let reply = app.send(method, &path, body).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(reply.body["version"], expected_version, "{path}");
    }

    let events = events_of(&read_events(&app.events_topic(), 7), &id);
    let types: Vec<&str> = events.iter().map(|e| e.header("ce_type")).collect();
    assert_eq!(
        types,
        [
            "dev.orderlog.order.placed",
            "dev.orderlog.order.line_added",
            "dev.orderlog.order.line_removed",
            "dev.orderlog.order.shipping_address_changed",
            "dev.orderlog.order.payment_confirmed",
            "dev.orderlog.order.shipped",
            "dev.orderlog.order.delivered",
        ]
    );
    assert_eq!(
        events.iter().map(PlainEvent::version).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(events[4].value["amount"], money(1300));
    app.stop().await;
}

#[tokio::test]
async fn every_rejection_has_its_status_and_code() {
    let app = TestApp::spawn().await;
    let id = app.place_default().await;
    let unknown = uuid::Uuid::now_v7();
    let cases = [
        (
            Method::POST,
            format!("/v1/orders/{unknown}/delivery"),
            None,
            404,
            "order_not_found",
        ),
        (
            Method::POST,
            "/v1/orders/not-a-uuid/delivery".to_owned(),
            None,
            404,
            "order_not_found",
        ),
        (
            Method::DELETE,
            format!("/v1/orders/{id}/lines/Z-9"),
            None,
            404,
            "line_not_found",
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/shipment"),
            Some(json!({"carrier": "DHL", "tracking_number": "JD0001"})),
            409,
            "invalid_transition",
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/lines"),
            Some(json!({"sku": "A-1", "quantity": 1, "unit_price": money(1)})),
            409,
            "line_already_present",
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/payment"),
            Some(json!({"payment_reference": "p", "amount": money(1)})),
            422,
            "payment_amount_mismatch",
        ),
        (
            Method::POST,
            format!("/v1/orders/{id}/payment"),
            Some(
                json!({"payment_reference": "p", "amount": {"amount_minor": 1250, "currency": "USD"}}),
            ),
            422,
            "currency_mismatch",
        ),
        (
            Method::POST,
            "/v1/orders".to_owned(),
            Some(
                json!({"customer_id": "c", "currency": "EUR", "lines": [], "shipping_address": address("Rome")}),
            ),
            422,
            "no_lines",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let reply = app.send(method, &path, body).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (status, Some(code)),
            "{path}: {}",
            reply.body
        );
        assert_eq!(reply.content_type(), "application/problem+json");
        assert_eq!(
            reply.body["type"],
            format!("https://orderlog.dev/problems/{code}")
        );
        assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // Removing down to one line, then the last: refused.
    assert_eq!(
        app.send(Method::DELETE, &format!("/v1/orders/{id}/lines/B-2"), None)
            .await
            .status,
        200
    );
    let last = app
        .send(Method::DELETE, &format!("/v1/orders/{id}/lines/A-1"), None)
        .await;
    assert_eq!(
        (last.status, last.body["code"].as_str()),
        (409, Some("last_line"))
    );
    // Paid orders are locked; cancelled ones refuse everything.
    let paid = app
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/payment"),
            Some(json!({"payment_reference": "p", "amount": money(1000)})),
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    let locked = app
        .send(
            Method::PUT,
            &format!("/v1/orders/{id}/shipping-address"),
            Some(json!({"shipping_address": address("Oslo")})),
        )
        .await;
    assert_eq!(
        (locked.status, locked.body["code"].as_str()),
        (409, Some("order_not_modifiable"))
    );
    let cancelled = app
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/cancellation"),
            Some(json!({"reason": "changed mind"})),
        )
        .await;
    assert_eq!(cancelled.status, 200);
    let again = app
        .send(
            Method::POST,
            &format!("/v1/orders/{id}/cancellation"),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    // If-Match with a stale version writes nothing.
    let stale = app
        .send_with(
            Method::POST,
            &format!("/v1/orders/{id}/delivery"),
            None,
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(
        (stale.status, stale.body["code"].as_str()),
        (412, Some("version_mismatch"))
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_precise_problems() {
    let app = TestApp::spawn().await;
    let url = format!("{}/v1/orders", app.base);
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let problem = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.expect("problem json");
        (
            status,
            body["code"].as_str().unwrap_or_default().to_owned(),
            body,
        )
    };

    let (status, code, _) =
        problem(raw("{not json", "application/json").await.expect("sent")).await;
    assert_eq!((status, code.as_str()), (400, "malformed_json"));
    let (status, code, _) = problem(raw("{}", "text/plain").await.expect("sent")).await;
    assert_eq!((status, code.as_str()), (415, "unsupported_media_type"));

    let mut bad = place_body();
    bad["lines"][1]["quantity"] = json!(0);
    let reply = app.place(bad).await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (422, Some("invalid_field"))
    );
    assert_eq!(reply.body["field"], "lines[1].quantity");
    let mut bad = place_body();
    bad["currency"] = json!("euro");
    let reply = app.place(bad).await;
    assert_eq!(
        (reply.status, reply.body["field"].as_str()),
        (422, Some("currency"))
    );
    let mut bad = place_body();
    bad["lines"][0]["unit_price"]["amount_minor"] = json!(12.5);
    assert_eq!(
        app.place(bad).await.body["field"],
        "lines[0].unit_price.amount_minor"
    );

    let huge = "x".repeat(300 * 1024);
    let response = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("sent");
    let (status, code, _) = problem(response).await;
    assert_eq!((status, code.as_str()), (413, "body_too_large"));

    let reply = app
        .send_with(
            Method::POST,
            "/v1/orders",
            Some(place_body()),
            &[("If-Match", "three")],
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (400, Some("invalid_header"))
    );
    let reply = app.send(Method::GET, "/v1/nothing", None).await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (404, Some("not_found"))
    );
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    let ready = app.send(Method::GET, "/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["processor"]["partitions"], json!([0, 1, 2]));
    assert_eq!(
        app.send(Method::GET, "/healthz", None).await.body["status"],
        "ok"
    );
    app.place_default().await;
    let metrics = app.send(Method::GET, "/metrics", None).await;
    let text = metrics.body.as_str().expect("text");
    assert!(text.contains("orderlog_processor_commands_total"), "{text}");
    assert!(text.contains("orderlog_http_requests_total"), "{text}");
    // The gauges the alert rules watch (compose/prometheus/alerts.yml).
    assert!(
        text.contains("orderlog_processor_partitions_served "),
        "{text}"
    );
    assert!(
        text.contains("orderlog_processor_partitions_unserved "),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn made_up_methods_add_no_metric_series_and_every_answer_has_a_request_id() {
    let app = TestApp::spawn_with(test_config(&unique_prefix(), Role::Http)).await;
    for junk in ["FROBNICATE", "XYZZY", "PLUGH"] {
        let method = Method::from_bytes(junk.as_bytes()).expect("method");
        let reply = app.send(method, "/v1/orders", None).await;
        assert!(
            (400..500).contains(&reply.status),
            "{junk}: {}",
            reply.status
        );
        assert!(reply.headers.contains_key("x-request-id"), "{junk}");
    }
    let given = app
        .send_with(
            Method::GET,
            "/healthz",
            None,
            &[("x-request-id", "trace-me-42")],
        )
        .await;
    assert_eq!(given.headers["x-request-id"], "trace-me-42");
    let metrics = app.send(Method::GET, "/metrics", None).await;
    let text = metrics.body.as_str().expect("text");
    for junk in ["FROBNICATE", "XYZZY", "PLUGH"] {
        assert!(!text.contains(junk), "a series for {junk}");
    }
    assert!(text.contains("method=\"other\""), "{text}");
    app.stop().await;
}
