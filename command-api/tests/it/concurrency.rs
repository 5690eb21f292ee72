//! Concurrent commands on one order are serialised by its partition's single writer.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn fifty_concurrent_lines_get_contiguous_versions_and_none_is_lost() {
    let app = TestApp::spawn().await;
    let id = app.place_default().await;
    let path = format!("/v1/orders/{id}/lines");
    let replies = futures::future::join_all((0..50).map(|i| {
        app.send(
            Method::POST,
            &path,
            Some(json!({"sku": format!("N-{i}"), "quantity": 1, "unit_price": money(10)})),
        )
    }))
    .await;
    let mut versions: Vec<u64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["version"].as_u64().expect("version")
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=51).collect::<Vec<_>>());

    let events = events_of(&read_events(&app.events_topic(), 51), &id);
    assert_eq!(
        events.iter().map(PlainEvent::version).collect::<Vec<_>>(),
        (1..=51).collect::<Vec<_>>()
    );
    let last = events.last().expect("events");
    assert_eq!(
        last.value["order_total"],
        money(1250 + 50 * 10),
        "no line lost"
    );
    app.stop().await;
}
