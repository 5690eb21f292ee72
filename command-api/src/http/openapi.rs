//! The OpenAPI 3.1 document, generated from the route table ([`super::routes`]), the error
//! type and the JSON Schemas of the request and response types (OpenAPI 3.1 schemas are JSON Schema 2020-12).
//! Checked in at `schemas/openapi/command-api.json`; a test fails when they drift apart.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::{ApiError, Problem};
use super::orders::Accepted;
use super::routes::{Input, ROUTES};

pub(super) async fn serve(State(state): State<AppState>) -> Json<Value> {
    Json((*state.openapi).clone())
}

/// The error answers, by status: each lists the codes it carries, from [`ApiError`].
fn problems() -> BTreeMap<String, Value> {
    let mut codes: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for error in ApiError::every_kind() {
        let listed = codes.entry(error.status().as_u16()).or_default();
        if !listed.contains(&error.code()) {
            listed.push(error.code());
        }
    }
    codes
        .into_iter()
        .map(|(status, codes)| {
            let mut description = format!("Problem details; `code` is one of: {}.", codes.join(", "));
            if status == 503 {
                description.push_str(" Retry-After is set; retry with the same Idempotency-Key.");
            }
            if status == 401 || status == 403 {
                description.push_str(" WWW-Authenticate carries the bearer challenge (RFC 6750).");
            }
            if status == 429 {
                description.push_str(" Retry-After is set.");
            }
            let mut response = json!({
                "description": description,
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
            });
            if status == 503 || status == 429 {
                response["headers"] = json!({ "Retry-After": { "description": "Seconds to wait.", "schema": { "type": "integer", "minimum": 0 } } });
            }
            if status == 401 || status == 403 {
                response["headers"] = json!({ "WWW-Authenticate": { "description": "The bearer challenge: the error and, for 403, the scope needed.", "schema": { "type": "string" } } });
            }
            (status.to_string(), response)
        })
        .collect()
}

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let accepted = generator.subschema_for::<Accepted>();
    let problem = generator.subschema_for::<Problem>();
    let mut paths = Map::new();
    for route in &ROUTES {
        let mut parameters = vec![json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes retries safe: the same key with the same request returns the first answer and writes nothing; with a different request it is refused (422).",
            "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$" }
        })];
        if route.path.contains("{id}") {
            parameters.push(json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }));
            parameters.push(json!({
                "name": "If-Match", "in": "header", "required": false,
                "description": "The order version the caller expects, such as \"3\" (or * for any); a mismatch is 412 and writes nothing.",
                "schema": { "type": "string", "pattern": "^(\\*|\"[0-9]{1,19}\"|[0-9]{1,19})$" }
            }));
        }
        if route.path.contains("{sku}") {
            parameters.push(json!({ "name": "sku", "in": "path", "required": true, "schema": { "$ref": "#/components/schemas/Sku" } }));
        }
        let mut headers = json!({ "ETag": { "description": "The order version, quoted.", "schema": { "type": "string" } } });
        if route.success == axum::http::StatusCode::CREATED {
            headers["Location"] = json!({
                "description": "Where the new order can be read: the query API's GraphQL endpoint over GET, asking for the order at least at this version.",
                "schema": { "type": "string", "format": "uri" }
            });
        }
        let mut responses: Map<String, Value> = Map::new();
        responses.insert(
            route.success.as_u16().to_string(),
            json!({
                "description": "The command is committed: its events are in the log.",
                "headers": headers,
                "content": { "application/json": { "schema": accepted } }
            }),
        );
        responses.extend(problems());
        let mut operation = json!({
            "operationId": route.operation_id,
            "summary": route.summary,
            "parameters": parameters,
            "responses": responses,
            "security": [{ "bearer": ["orders:write"] }],
        });
        if let Input::Body { schema, .. } = &route.input {
            operation["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema(&mut generator) } } });
        }
        paths.entry(route.path).or_insert_with(|| json!({}))
            [route.method.as_str().to_lowercase()] = operation;
    }
    let _ = problem;
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "orderlog command API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Commands on orders. Each answer is sent once the command's result is committed to Kafka. Every command needs a bearer JWT with the scope orders:write; a token with a customer_id claim commands only that customer's orders."
        },
        "servers": [{ "url": "http://127.0.0.1:8080" }],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT naming the configured issuer and audience, with exp and sub, and orders:write in its scope (or scp) claim."
                }
            }
        }
    })
}
