//! The OpenAPI 3.1 document, generated from the route table below and the JSON Schemas of
//! the request and response types (OpenAPI 3.1 schemas are JSON Schema 2020-12).
//! Checked in at `schemas/openapi/command-api.json`; a test fails when they drift apart.

use axum::Json;
use axum::extract::State;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use schemas::command::{
    AddLine, CancelOrder, ChangeShippingAddress, ConfirmPayment, PlaceOrder, ShipOrder,
};
use serde_json::{Map, Value, json};

use super::AppState;
use super::orders::Accepted;

pub(super) async fn serve(State(state): State<AppState>) -> Json<Value> {
    Json((*state.openapi).clone())
}

struct Operation {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    body: Option<fn(&mut SchemaGenerator) -> Schema>,
    created: bool,
}

fn body<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

const OPERATIONS: [Operation; 8] = [
    Operation {
        method: "post",
        path: "/v1/orders",
        id: "placeOrder",
        summary: "Place an order",
        body: Some(body::<PlaceOrder>),
        created: true,
    },
    Operation {
        method: "post",
        path: "/v1/orders/{id}/lines",
        id: "addLine",
        summary: "Add a line (while placed)",
        body: Some(body::<AddLine>),
        created: false,
    },
    Operation {
        method: "delete",
        path: "/v1/orders/{id}/lines/{sku}",
        id: "removeLine",
        summary: "Remove a line (while placed, not the last)",
        body: None,
        created: false,
    },
    Operation {
        method: "put",
        path: "/v1/orders/{id}/shipping-address",
        id: "changeShippingAddress",
        summary: "Change the shipping address (while placed)",
        body: Some(body::<ChangeShippingAddress>),
        created: false,
    },
    Operation {
        method: "post",
        path: "/v1/orders/{id}/payment",
        id: "confirmPayment",
        summary: "Confirm the payment of the exact total",
        body: Some(body::<ConfirmPayment>),
        created: false,
    },
    Operation {
        method: "post",
        path: "/v1/orders/{id}/shipment",
        id: "shipOrder",
        summary: "Ship a paid order",
        body: Some(body::<ShipOrder>),
        created: false,
    },
    Operation {
        method: "post",
        path: "/v1/orders/{id}/delivery",
        id: "deliverOrder",
        summary: "Record the delivery of a shipped order",
        body: None,
        created: false,
    },
    Operation {
        method: "post",
        path: "/v1/orders/{id}/cancellation",
        id: "cancelOrder",
        summary: "Cancel an order that has not shipped",
        body: Some(body::<CancelOrder>),
        created: false,
    },
];

fn problem(description: &str) -> Value {
    json!({ "description": description, "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } })
}

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let accepted = generator.subschema_for::<Accepted>();
    let mut paths = Map::new();
    for op in &OPERATIONS {
        let mut parameters = vec![json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes retries safe: the same key with the same request returns the first answer and writes nothing; with a different request it is refused (422).",
            "schema": { "type": "string", "minLength": 1, "maxLength": 255 }
        })];
        if op.path.contains("{id}") {
            parameters.push(json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }));
            parameters.push(json!({
                "name": "If-Match", "in": "header", "required": false,
                "description": "The order version the caller expects, such as \"3\"; a mismatch is 412 and writes nothing.",
                "schema": { "type": "string" }
            }));
        }
        if op.path.contains("{sku}") {
            parameters.push(json!({ "name": "sku", "in": "path", "required": true, "schema": { "type": "string" } }));
        }
        let success = if op.created { "201" } else { "200" };
        let mut operation = json!({
            "operationId": op.id,
            "summary": op.summary,
            "parameters": parameters,
            "responses": {
                success: {
                    "description": "The command is committed: its events are in the log.",
                    "headers": { "ETag": { "description": "The order version, quoted.", "schema": { "type": "string" } } },
                    "content": { "application/json": { "schema": accepted } }
                },
                "400": problem("Malformed JSON or header (malformed_json, invalid_header)."),
                "404": problem("Unknown order or line (order_not_found, line_not_found)."),
                "409": problem("Not allowed in the order's state (invalid_transition, order_not_modifiable, order_already_exists, line_already_present, last_line)."),
                "412": problem("If-Match does not match the order version (version_mismatch)."),
                "413": problem("Body too large (body_too_large)."),
                "415": problem("Body is not application/json (unsupported_media_type)."),
                "422": problem("Invalid field or rule (invalid_field with `field`, payment_amount_mismatch, currency_mismatch, no_lines, too_many_lines, amount_too_large, idempotency_key_reused)."),
                "503": problem("Kafka unavailable, or outcome unknown: retry with the same Idempotency-Key (kafka_unavailable, outcome_unknown); or too many commands in flight (overloaded). Retry-After is set.")
            }
        });
        if let Some(schema) = op.body {
            operation["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": schema(&mut generator) } } });
        }
        paths.entry(op.path).or_insert_with(|| json!({}))[op.method] = operation;
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert(
        "Problem".to_owned(),
        json!({
            "description": "RFC 9457 problem details with a stable code.",
            "type": "object",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": { "type": "string", "format": "uri" },
                "title": { "type": "string" },
                "status": { "type": "integer" },
                "detail": { "type": "string" },
                "code": { "type": "string", "description": "Stable machine-readable code (see docs/api.md)." },
                "field": { "type": "string", "description": "For invalid_field: the path of the field, such as lines[0].quantity." },
                "rejection": { "type": "object", "description": "For domain rejections: the rejection with its details." }
            }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "orderlog command API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Commands on orders. Each answer is sent once the command's result is committed to Kafka."
        },
        "servers": [{ "url": "http://127.0.0.1:8080" }],
        "paths": paths,
        "components": { "schemas": schemas }
    })
}
