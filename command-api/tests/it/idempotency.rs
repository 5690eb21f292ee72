//! Retries are safe: one Idempotency-Key, one set of events.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_same_command_sent_ten_times_at_once_is_applied_once() {
    let app = TestApp::spawn().await;
    let replies = futures::future::join_all((0..10).map(|_| {
        app.send_with(
            Method::POST,
            "/v1/orders",
            Some(place_body()),
            &[("Idempotency-Key", "checkout-7781")],
        )
    }))
    .await;
    let id = replies[0].body["order_id"].as_str().expect("id").to_owned();
    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(
            reply.body, replies[0].body,
            "every retry gets the first answer"
        );
    }
    let path = format!("/v1/orders/{id}/payment");
    let pays = futures::future::join_all((0..10).map(|_| {
        app.send_with(
            Method::POST,
            &path,
            Some(json!({"payment_reference": "psp-9", "amount": money(1250)})),
            &[("Idempotency-Key", "pay-1")],
        )
    }))
    .await;
    assert!(
        pays.iter()
            .all(|r| r.status == 200 && r.body["version"] == 2),
        "{pays:?}"
    );

    let events = events_of(&read_events(&app.events_topic(), 2), &id);
    assert_eq!(events.len(), 2, "one placed and one paid event: {events:?}");

    // The same key with another body is refused and writes nothing.
    let mut other = place_body();
    other["customer_id"] = json!("someone-else");
    let reused = app
        .send_with(
            Method::POST,
            "/v1/orders",
            Some(other),
            &[("Idempotency-Key", "checkout-7781")],
        )
        .await;
    assert_eq!(
        (reused.status, reused.body["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    app.stop().await;
}
