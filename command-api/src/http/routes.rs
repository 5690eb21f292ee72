//! The command routes, written once. The router and the OpenAPI document are both built from
//! [`ROUTES`], and one handler serves every route: what differs is the order a route names,
//! how its command is made, and the status of its success.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use schemas::command::{
    AddLine, CancelOrder, ChangeShippingAddress, Command, ConfirmPayment, DeliverOrder, PlaceOrder,
    RemoveLine, ShipOrder,
};
use schemas::values::Sku;
use serde::de::DeserializeOwned;

use super::body::parse;
use super::error::ApiError;

/// A route's path parameters by name.
pub(crate) type Params = HashMap<String, String>;

/// One command endpoint.
pub(crate) struct Route {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) operation_id: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) success: StatusCode,
    pub(crate) target: Target,
    pub(crate) input: Input,
}

/// The order a route's command is for.
pub(crate) enum Target {
    /// A new order: its id derives from the `Idempotency-Key` (a retry lands on it again).
    New,
    /// The order named by the path's `{id}`.
    Path,
}

/// What the command is made of.
pub(crate) enum Input {
    /// A JSON body of the schema, parsed into the command.
    Body {
        schema: fn(&mut SchemaGenerator) -> Schema,
        command: fn(&[u8]) -> Result<Command, ApiError>,
    },
    /// The path alone (no body is read).
    Path(fn(&Params) -> Result<Command, ApiError>),
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

fn body<T: DeserializeOwned>(bytes: &[u8], command: fn(T) -> Command) -> Result<Command, ApiError> {
    parse(bytes).map(command)
}

/// A JSON-bodied command of type `$body`, made by the `Command` variant of the same name.
macro_rules! json_input {
    ($body:ident) => {
        Input::Body {
            schema: schema::<$body>,
            command: |bytes| body(bytes, Command::$body),
        }
    };
}

fn remove_line(params: &Params) -> Result<Command, ApiError> {
    let sku = params.get("sku").map_or("", String::as_str);
    let sku = Sku::parse(sku).map_err(|e| ApiError::InvalidField {
        field: "sku".to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Command::RemoveLine(RemoveLine { sku }))
}

/// Every command endpoint.
pub(crate) static ROUTES: [Route; 8] = [
    Route {
        method: Method::POST,
        path: "/v1/orders",
        operation_id: "placeOrder",
        summary: "Place an order",
        success: StatusCode::CREATED,
        target: Target::New,
        input: json_input!(PlaceOrder),
    },
    Route {
        method: Method::POST,
        path: "/v1/orders/{id}/lines",
        operation_id: "addLine",
        summary: "Add a line (while placed)",
        success: StatusCode::OK,
        target: Target::Path,
        input: json_input!(AddLine),
    },
    Route {
        method: Method::DELETE,
        path: "/v1/orders/{id}/lines/{sku}",
        operation_id: "removeLine",
        summary: "Remove a line (while placed, not the last)",
        success: StatusCode::OK,
        target: Target::Path,
        input: Input::Path(remove_line),
    },
    Route {
        method: Method::PUT,
        path: "/v1/orders/{id}/shipping-address",
        operation_id: "changeShippingAddress",
        summary: "Change the shipping address (while placed)",
        success: StatusCode::OK,
        target: Target::Path,
        input: json_input!(ChangeShippingAddress),
    },
    Route {
        method: Method::POST,
        path: "/v1/orders/{id}/payment",
        operation_id: "confirmPayment",
        summary: "Confirm the payment of the exact total",
        success: StatusCode::OK,
        target: Target::Path,
        input: json_input!(ConfirmPayment),
    },
    Route {
        method: Method::POST,
        path: "/v1/orders/{id}/shipment",
        operation_id: "shipOrder",
        summary: "Ship a paid order",
        success: StatusCode::OK,
        target: Target::Path,
        input: json_input!(ShipOrder),
    },
    Route {
        method: Method::POST,
        path: "/v1/orders/{id}/delivery",
        operation_id: "deliverOrder",
        summary: "Record the delivery of a shipped order",
        success: StatusCode::OK,
        target: Target::Path,
        input: Input::Path(|_| Ok(Command::DeliverOrder(DeliverOrder {}))),
    },
    Route {
        method: Method::POST,
        path: "/v1/orders/{id}/cancellation",
        operation_id: "cancelOrder",
        summary: "Cancel an order that has not shipped",
        success: StatusCode::OK,
        target: Target::Path,
        input: json_input!(CancelOrder),
    },
];
