//! What command-api promises on the wire: the OpenAPI document is checked in, and events
//! are CloudEvents any Kafka client can read.

use std::path::PathBuf;

use reqwest::Method;

use crate::support::*;

#[test]
fn the_checked_in_openapi_document_matches_the_code() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi/command-api.json");
    let generated =
        serde_json::to_string_pretty(&command_api::http::openapi::document()).expect("json") + "\n";
    if std::env::var_os("ORDERLOG_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &generated).expect("write");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "schemas/openapi/command-api.json is stale; run `ORDERLOG_BLESS=1 cargo test -p command-api` and review"
    );
}

#[tokio::test]
async fn the_served_document_is_the_checked_in_one() {
    let app = TestApp::spawn().await;
    let served = app.send(Method::GET, "/openapi.json", None).await;
    assert_eq!(served.body, command_api::http::openapi::document());
    assert_eq!(served.body["openapi"], "3.1.0");
    app.stop().await;
}

#[tokio::test]
async fn events_are_cloudevents_a_plain_consumer_can_read() {
    let app = TestApp::spawn().await;
    let id = app.place_default().await;
    let events = events_of(&read_events(&app.events_topic(), 1), &id);
    let [event] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(event.header("ce_specversion"), "1.0");
    assert_eq!(event.header("ce_type"), "dev.orderlog.order.placed");
    assert_eq!(event.header("ce_subject"), id);
    assert_eq!(event.header("ce_source"), "urn:orderlog:command-processor");
    assert_eq!(event.header("content-type"), "application/json");
    assert_eq!(event.header("ce_orderversion"), "1");
    assert_eq!(event.header("ce_schemaversion"), "2");
    let time = chrono::DateTime::parse_from_rfc3339(event.header("ce_time")).expect("ce_time");
    // The payment window (30 minutes by default) counts from when the command was received.
    let due = event.value["payment_due_at"]
        .as_str()
        .expect("payment_due_at");
    let window = chrono::DateTime::parse_from_rfc3339(due).expect("a time") - time;
    assert!(
        window <= chrono::Duration::minutes(30) && window > chrono::Duration::minutes(29),
        "{window}"
    );
    assert!(uuid::Uuid::parse_str(event.header("ce_id")).is_ok());
    assert_eq!(event.value["order_total"], money(1250));
    assert_eq!(event.value["customer_id"], "cust-42");
    app.stop().await;
}
