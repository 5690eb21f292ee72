//! One trace from the HTTP request to the rows it changed: a command sent with a
//! `traceparent` shows up in a real Jaeger as one trace holding command-api's HTTP span,
//! the processor's span for the command (its child) and the projectors' spans applying its
//! event (children of the processor's). Its own test binary: the process's tracer exports
//! to this test's Jaeger.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::jaeger::Jaeger;
use testkit::query_platform::QueryPlatform as Platform;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_one_trace_from_its_request_to_the_read_models() {
    let jaeger = tokio::task::spawn_blocking(Jaeger::start)
        .await
        .expect("jaeger");
    let traces = telemetry::trace::TraceSettings {
        otlp_endpoint: Some(jaeger.otlp_endpoint()),
    };
    // The services' own subscriber (it exports the spans), writing to the test's log file.
    testkit::logs::capture_with(|file| {
        telemetry::init_to(telemetry::LogFormat::Pretty, "orderlog-test", &traces, file)
    });
    assert!(telemetry::trace::enabled());
    let platform = Platform::start().await;

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let body = json!({
        "customer_id": "traced",
        "currency": "EUR",
        "lines": [{ "sku": "TR-1", "quantity": 1, "unit_price": { "amount_minor": 100, "currency": "EUR" } }],
        "shipping_address": { "name": "Ada Lovelace", "line1": "1 Analytical Way", "city": "Berlin", "postal_code": "10115", "country": "DE" }
    });
    let placed: Value = platform
        .http
        .post(format!("{}/v1/orders", platform.commands))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&body)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    platform
        .caught_up(
            placed["consistency_token"].as_str().expect("token"),
            "traced",
        )
        .await;

    let url = format!("{}/api/traces/{trace_id}", jaeger.query_base());
    let deadline = Instant::now() + Duration::from_secs(60);
    let spans = loop {
        telemetry::trace::flush();
        let found: Value = reqwest::get(&url)
            .await
            .expect("jaeger answers")
            .json()
            .await
            .unwrap_or(Value::Null);
        let spans = found["data"][0]["spans"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = spans
            .iter()
            .filter_map(|s| s["operationName"].as_str())
            .collect();
        let applied = names.iter().filter(|n| **n == "apply event").count();
        if names.contains(&"POST /v1/orders") && names.contains(&"process command") && applied >= 3
        {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "the trace is not complete after 60 s: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let id_of = |name: &str| -> Vec<String> {
        spans
            .iter()
            .filter(|s| s["operationName"] == name)
            .filter_map(|s| s["spanID"].as_str().map(str::to_owned))
            .collect()
    };
    let parent_of = |span: &Value| -> Option<String> {
        span["references"]
            .as_array()?
            .iter()
            .find(|r| r["refType"] == "CHILD_OF")
            .and_then(|r| r["spanID"].as_str().map(str::to_owned))
    };
    let http = id_of("POST /v1/orders");
    let process = id_of("process command");
    for span in &spans {
        match span["operationName"].as_str() {
            Some("POST /v1/orders") => {
                assert_eq!(parent_of(span).as_deref(), Some(caller_span), "{span}")
            }
            Some("process command") => assert!(
                http.contains(&parent_of(span).unwrap_or_default()),
                "{span}"
            ),
            Some("apply event") => assert!(
                process.contains(&parent_of(span).unwrap_or_default()),
                "{span}"
            ),
            _ => {}
        }
    }
    platform.stop().await;
    drop(jaeger);
}
