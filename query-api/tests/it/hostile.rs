//! Hostile input on GraphQL: generated garbage bodies and documents, and the classic bombs
//! (depth, aliases, fragment cycles, directives, huge variables, batches). Every answer is a
//! 4xx, or a 200 that carries only errors; never a 5xx or a hang; healthy afterwards.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use crate::support::*;

fn samples<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect()
}

/// Documents that must not run: bombs and generated text.
fn documents() -> Vec<String> {
    let mut documents = vec![
        format!(
            "{}{}",
            "{ orders(first: 1) { nodes { customer { orders(first: 1) { nodes ".repeat(40),
            "}".repeat(200)
        ),
        format!(
            "{{ {} }}",
            (0..3_000)
                .map(|n| format!("a{n}: projections {{ name }}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }".to_owned(),
        format!(
            "{{ projections {} {{ name }} }}",
            "@include(if: true) ".repeat(500)
        ),
        format!("{{ {} }}", "__typename ".repeat(5_000)),
        "query($x: String) { order(id: $x) { id } }".to_owned(),
        "{ order(id: \"\\u0000\") { id } }".to_owned(),
        "subscription { orderUpdated(id: \"x\") { id } }".to_owned(),
        "mutation { x }".to_owned(),
        "{ orders(first: 2147483647) { nodes { id } } }".to_owned(),
        r#"{ dailySales(from: "0001-01-01", to: "9999-12-31") { day } }"#.to_owned(),
        "{ topProducts(limit: 2147483647) { sku } }".to_owned(),
    ];
    documents.extend(samples("\\PC{0,200}", 40));
    documents.extend(samples("[{}()a-z:@.$!\\[\\] ]{0,300}", 40));
    documents
}

/// Whole bodies that are not a GraphQL request.
fn bodies() -> Vec<Vec<u8>> {
    let mut bodies = samples(prop::collection::vec(any::<u8>(), 0..500), 30);
    bodies.extend(
        [
            "[".repeat(50_000),
            "[]".to_owned(),
            Value::Array(vec![json!({ "query": "{ projections { name } }" }); 50]).to_string(),
            json!({ "query": "query($v: String) { projections { name } }", "variables": { "v": "x".repeat(2 * 1024 * 1024) } }).to_string(),
            format!(r#"{{"query": "{{ projections {{ name }} }}", "variables": {}{}}}"#, "{\"a\":".repeat(3_000), "}".repeat(3_000)),
            json!({ "query": 5 }).to_string(),
            json!({ "query": "{ projections { name } }", "operationName": "nope" }).to_string(),
        ]
        .map(String::into_bytes),
    );
    bodies
}

async fn post(platform: &Platform, body: Vec<u8>) -> (u16, Value) {
    let response = platform
        .http
        .post(format!("{}/graphql", platform.query))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_refused(what: &str, (status, body): &(u16, Value)) {
    match status {
        200 => {
            let errors = body["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: 200 without errors: {body}"));
            assert!(!errors.is_empty(), "{what}: {body}");
            assert!(
                body["data"].is_null(),
                "{what}: data beside the errors: {body}"
            );
            assert!(
                errors.iter().all(|e| e["extensions"]["code"].is_string()),
                "{what}: an error without a code: {body}"
            );
            assert!(
                errors.iter().all(|e| e["extensions"]["code"] != "INTERNAL"),
                "{what}: {body}"
            );
        }
        400..500 => {}
        _ => panic!("{what}: {status} {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_garbage_and_query_bombs_are_refused_and_the_service_stays_healthy() {
    let platform = Platform::start().await;
    let mut sent = 0;
    for document in documents() {
        let answer = post(
            &platform,
            json!({ "query": document }).to_string().into_bytes(),
        )
        .await;
        assert_refused(&document.chars().take(80).collect::<String>(), &answer);
        sent += 1;
    }
    for body in bodies() {
        let answer = post(&platform, body.clone()).await;
        assert_refused(
            &String::from_utf8_lossy(&body)
                .chars()
                .take(80)
                .collect::<String>(),
            &answer,
        );
        sent += 1;
    }
    // GET with a garbage query string, too.
    for document in samples("\\PC{0,100}", 20) {
        let mut url = reqwest::Url::parse(&format!("{}/graphql", platform.query)).expect("url");
        url.query_pairs_mut().append_pair("query", &document);
        let response = platform.http.get(url).send().await.expect("an answer");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_refused(&document, &(status, body));
        sent += 1;
    }
    assert!(sent > 140, "{sent}");
    let data = platform.data("{ projections { name } }", json!({})).await;
    assert!(data["projections"].is_array());
    platform.stop().await;
}
