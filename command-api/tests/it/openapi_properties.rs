//! The OpenAPI document says everything the server enforces on a request's shape: requests
//! generated from the checked-in document are never refused as malformed (`invalid_field`,
//! `invalid_header`, `malformed_json`, or a 5xx) nor find no route (`not_found`), while the same requests broken in one
//! place (a control character or a fraction in a field, cut JSON, a weak `If-Match`, a key
//! with a space, a body sent as text) are refused with the code that says so,
//! `invalid_field` naming its path. Every error answer either test provokes is one the
//! document describes: its status is listed for the operation, and its body is valid
//! against that response's schema, as a client generated from the document parses it.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::openapi_gen::{Request, document, operations, requests};
use crate::support::*;

/// Codes that say the request's shape was refused, or its route does not exist.
const MALFORMED: [&str; 6] = [
    "not_found",
    "invalid_field",
    "invalid_header",
    "malformed_json",
    "body_too_large",
    "unsupported_media_type",
];

/// What the server answered: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

/// An error answer the document does not describe: its status is not listed for the
/// operation, it is not problem+json, or its body does not match the response's schema.
fn undocumented(doc: &Value, operation: &Value, answer: &Answer) -> Option<String> {
    if answer.status < 400 {
        return None;
    }
    let Some(response) = operation["responses"].get(answer.status.to_string()) else {
        return Some(format!("status {} is not in the document", answer.status));
    };
    if !answer.content_type.starts_with("application/problem+json") {
        return Some(format!("content type {:?}", answer.content_type));
    }
    let mut schema = response["content"]["application/problem+json"]["schema"].clone();
    if schema.is_null() {
        return Some(format!("no problem+json schema for {}", answer.status));
    }
    // `#/components/...` references resolve against the document's components.
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&schema).expect("the document's schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&answer.body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    (!errors.is_empty()).then(|| format!("{}: {}", answer.body, errors.join("; ")))
}

async fn send(app: &TestApp, request: &Request, body: Option<Vec<u8>>) -> Answer {
    send_as(app, request, body, "application/json").await
}

async fn send_as(
    app: &TestApp,
    request: &Request,
    body: Option<Vec<u8>>,
    content_type: &str,
) -> Answer {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("method");
    let mut builder = app
        .client
        .request(method, format!("{}{}", app.base, request.path));
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = body {
        builder = builder.header("content-type", content_type).body(body);
    }
    let response = builder.send().await.expect("sent");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    Answer {
        status,
        content_type,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

fn body_bytes(request: &Request) -> Option<Vec<u8>> {
    request
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).expect("json"))
}

/// The platform under test, and an order that exists so path ids reach more than 404s.
fn platform() -> (tokio::runtime::Runtime, TestApp, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (app, known) = runtime.block_on(async {
        let app = TestApp::spawn().await;
        let known = app.place_default().await;
        (app, known)
    });
    (runtime, app, known)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn requests_the_document_calls_valid_are_never_refused_as_malformed() {
    let doc = document();
    let (runtime, app, known) = platform();
    for operation in operations(&doc) {
        let strategy = requests(&doc, &operation, known.clone());
        let answers = std::cell::RefCell::new(std::collections::BTreeMap::new());
        runner(24)
            .run(&strategy, |request| {
                let reply = runtime.block_on(send(&app, &request, body_bytes(&request)));
                if let Some(wrong) = undocumented(&doc, &operation.2, &reply) {
                    return Err(TestCaseError::fail(format!("{wrong} for {request:?}")));
                }
                let (status, answer) = (reply.status, reply.body);
                let code = answer["code"].as_str().unwrap_or_default();
                *answers
                    .borrow_mut()
                    .entry(format!("{status} {code}"))
                    .or_insert(0) += 1;
                prop_assert!(
                    status < 500 || status == 503 && code != "internal",
                    "{status} {answer} for {request:?}"
                );
                prop_assert!(
                    !MALFORMED.contains(&code),
                    "a request the document calls valid was refused: {answer} for {request:?}"
                );
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{} {}: {e}", operation.0, operation.1));
        eprintln!("{} {}: {:?}", operation.0, operation.1, answers.borrow());
    }
    runtime.block_on(app.stop());
}

/// The JSON paths (`lines[0].quantity`) of the leaves of `value` that hold strings or
/// integers.
fn leaves(value: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (name, v) in map {
                let path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                leaves(v, &path, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::String(_) | Value::Number(_) => out.push((path.to_owned(), value.clone())),
        _ => {}
    }
}

/// Replaces the leaf at `path` (as [`leaves`] names it) with `new`.
fn replace(value: &mut Value, path: &str, new: Value) {
    let mut target = value;
    for part in path.split('.') {
        let (name, indexes) = part
            .split_once('[')
            .map_or((part, ""), |(n, rest)| (n, rest));
        target = &mut target[name];
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().expect("index");
            target = &mut target[i];
        }
    }
    *target = new;
}

#[test]
fn the_same_requests_broken_in_one_place_are_refused_with_the_code_that_says_so() {
    let doc = document();
    let (runtime, app, known) = platform();
    for operation in operations(&doc) {
        let strategy = (
            requests(&doc, &operation, known.clone()),
            any::<prop::sample::Index>(),
            0..5u8,
        );
        runner(12)
            .run(&strategy, |(mut request, pick, how)| {
                let has_id = operation.1.contains("{id}");
                let mut content_type = "application/json";
                let (body, expected, field): (Option<Vec<u8>>, &str, Option<String>) =
                    match (&request.body, how) {
                        (Some(_), 4) => {
                            content_type = "text/plain";
                            (body_bytes(&request), "unsupported_media_type", None)
                        }
                        (Some(body), 0) => {
                            let text = serde_json::to_string(body).expect("json");
                            (
                                Some(text.as_bytes()[..text.len() / 2].to_vec()),
                                "malformed_json",
                                None,
                            )
                        }
                        (Some(body), 1 | 2) => {
                            let mut all = Vec::new();
                            leaves(body, "", &mut all);
                            let wanted: Vec<_> = all
                                .into_iter()
                                .filter(|(_, v)| {
                                    if how == 1 {
                                        v.is_string()
                                    } else {
                                        v.is_i64() || v.is_f64()
                                    }
                                })
                                .collect();
                            if wanted.is_empty() {
                                return Ok(());
                            }
                            let (path, leaf) = pick.get(&wanted).clone();
                            let broken = match leaf {
                                Value::String(s) => json!(format!("{s}\u{7}x")),
                                _ => json!(1.5),
                            };
                            let mut body = body.clone();
                            replace(&mut body, &path, broken);
                            (
                                Some(serde_json::to_vec(&body).expect("json")),
                                "invalid_field",
                                Some(path),
                            )
                        }
                        _ if has_id && how % 2 == 0 => {
                            request.headers.retain(|(n, _)| n != "If-Match");
                            request.headers.push(("If-Match".into(), "W/\"1\"".into()));
                            (body_bytes(&request), "invalid_header", None)
                        }
                        _ => {
                            request.headers.retain(|(n, _)| n != "Idempotency-Key");
                            request
                                .headers
                                .push(("Idempotency-Key".into(), "two words".into()));
                            (body_bytes(&request), "invalid_header", None)
                        }
                    };
                let reply = runtime.block_on(send_as(&app, &request, body, content_type));
                if let Some(wrong) = undocumented(&doc, &operation.2, &reply) {
                    return Err(TestCaseError::fail(format!("{wrong} for {request:?}")));
                }
                let (status, answer) = (reply.status, reply.body);
                prop_assert_eq!(
                    answer["code"].as_str(),
                    Some(expected),
                    "{} {} for {:?}",
                    status,
                    answer,
                    request
                );
                if let Some(path) = field {
                    let named = answer["field"].as_str().unwrap_or_default();
                    if named.is_empty() || !path.starts_with(named) {
                        return Err(TestCaseError::fail(format!(
                            "field {named:?} for a broken {path}: {answer}"
                        )));
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{} {}: {e}", operation.0, operation.1));
    }
    runtime.block_on(app.stop());
}
