//! Hostile input: generated malformed bodies, headers and tokens against the command routes.
//! Every answer is a 4xx with problem+json (never a 5xx, never a hang), and the service
//! serves a good command afterwards.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::support::*;

/// `count` values of `strategy`, the same on every run.
fn samples<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

/// Bodies no command accepts.
fn bodies() -> Vec<Vec<u8>> {
    let mut bodies = samples(prop::collection::vec(any::<u8>(), 0..600), 40);
    bodies.extend(
        samples("\\PC{0,300}", 30)
            .into_iter()
            .map(String::into_bytes),
    );
    bodies.extend(
        [
            "[".repeat(100_000),
            format!("{}{}", "{\"a\":".repeat(5_000), "}".repeat(5_000)),
            r#"{"customer_id": 1e400}"#.to_owned(),
            r#"{"customer_id": "a", "customer_id": "b"}"#.to_owned(),
            r#"{"lines": [{"quantity": -1}]}"#.to_owned(),
            "null".to_owned(),
            "\u{feff}{}".to_owned(),
            format!(r#"{{"customer_id": "{}"}}"#, "x".repeat(300 * 1024)),
        ]
        .map(String::into_bytes),
    );
    bodies
}

/// Header values that are valid HTTP but not what the API takes.
fn header_values() -> Vec<HeaderValue> {
    samples(prop::collection::vec(any::<u8>(), 0..300), 60)
        .into_iter()
        .chain(
            samples("[ -~]{0,400}", 30)
                .into_iter()
                .map(String::into_bytes),
        )
        .filter_map(|bytes| HeaderValue::from_bytes(&bytes).ok())
        .collect()
}

/// Authorization values that are no valid token of the service.
fn tokens() -> Vec<String> {
    let segment = "[A-Za-z0-9_-]{0,120}";
    let mut tokens: Vec<String> = samples((segment, segment, segment), 30)
        .into_iter()
        .map(|(a, b, c)| format!("Bearer {a}.{b}.{c}"))
        .collect();
    tokens.extend(samples("[ -~]{0,200}", 20));
    tokens.extend([
        // alg none, with every scope.
        "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJvcmRlcmxvZyIsImF1ZCI6Im9yZGVybG9nIiwic3ViIjoieCIsInNjb3BlIjoib3JkZXJzOndyaXRlIiwiZXhwIjo5OTk5OTk5OTk5fQ.".to_owned(),
        format!("Bearer {}", "a".repeat(10_000)),
        "Bearer".to_owned(),
        "Bearer  ".to_owned(),
    ]);
    tokens
}

async fn send(
    app: &TestApp,
    path: &str,
    headers: &[(HeaderName, HeaderValue)],
    body: Vec<u8>,
    authorized: bool,
) -> (u16, String, Value) {
    let client = if authorized {
        app.client.clone()
    } else {
        reqwest::Client::new()
    };
    let mut request = client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        content_type,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_refused(what: &str, (status, content_type, body): &(u16, String, Value)) {
    assert!((400..500).contains(status), "{what}: {status} {body}");
    assert_eq!(
        content_type, "application/problem+json",
        "{what}: {status} {body}"
    );
    assert!(body["code"].is_string(), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_malformed_bodies_headers_and_tokens_get_4xx_problems_only() {
    let app = TestApp::spawn().await;
    let order = app.place_default().await;
    let paths = ["/v1/orders".to_owned(), format!("/v1/orders/{order}/lines")];

    let mut sent = 0;
    for body in bodies() {
        for path in &paths {
            assert_refused("a body", &send(&app, path, &[], body.clone(), true).await);
            sent += 1;
        }
    }
    let good = serde_json::to_vec(&place_body()).expect("json");
    for value in header_values() {
        for name in ["idempotency-key", "if-match", "content-type"] {
            let answer = send(
                &app,
                &paths[1],
                &[(HeaderName::from_static(name), value.clone())],
                b"{".to_vec(),
                true,
            )
            .await;
            assert_refused(name, &answer);
            sent += 1;
        }
        // Headers the API only passes on or ignores never break a good command.
        for name in ["x-request-id", "x-correlation-id", "traceparent"] {
            let (status, _, body) = send(
                &app,
                "/v1/orders",
                &[(HeaderName::from_static(name), value.clone())],
                good.clone(),
                true,
            )
            .await;
            assert!(
                status == 201 || (400..500).contains(&status),
                "{name}: {status} {body}"
            );
            sent += 1;
        }
    }
    for token in tokens() {
        let Ok(value) = HeaderValue::from_str(&token) else {
            continue;
        };
        let answer = send(
            &app,
            "/v1/orders",
            &[(reqwest::header::AUTHORIZATION, value)],
            good.clone(),
            false,
        )
        .await;
        assert_refused("a token", &answer);
        assert_eq!(answer.0, 401, "{token}: {}", answer.2);
        sent += 1;
    }
    assert!(sent > 300, "{sent} requests");

    // Healthy afterwards.
    let healthy = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(healthy.status(), 200);
    assert_eq!(app.place(place_body()).await.status, 201);
    app.stop().await;
}
