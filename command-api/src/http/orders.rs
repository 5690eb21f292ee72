//! The order command handler: turns a request into a command, sends it, and answers with
//! the committed result.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use guard::Principal;
use schemas::command::Command;
use schemas::envelope::EventSummary;
use schemas::values::{CustomerId, OrderId};
use schemas::{CommandEnvelope, CommandOutcome};
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use super::body::read_json;
use super::error::ApiError;
use super::routes::{Input, Params, Route, Target};
use crate::intake::SendError;

/// Namespace of the UUIDv5 ids derived from Idempotency-Keys.
const IDEMPOTENCY_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_726c_6f67_8000_0000_0000_0001);

/// The answer to an accepted command.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct Accepted {
    pub(crate) order_id: Uuid,
    /// The order's version after the command.
    pub version: u64,
    /// The events the command wrote (empty when it asked for what was already true).
    pub events: Vec<EventSummary>,
    /// Opaque token a reader passes to get data at least as fresh as this write.
    pub consistency_token: String,
}

/// Serves any command route: reads and parses the body when the route has one, names the
/// order, makes the command, sends it and answers with its committed result.
pub(super) async fn handle(
    route: &'static Route,
    state: AppState,
    params: Params,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let acting_for = acting_for(parts.extensions.get::<Principal>())?;
    let command = match &route.input {
        Input::Body { command, .. } => {
            let bytes = read_json(&headers, body, state.max_body_bytes).await?;
            command(&bytes)?
        }
        Input::Path(command) => command(&params)?,
    };
    if let (Some(customer), Command::PlaceOrder(place)) = (&acting_for, &command)
        && place.customer_id != *customer
    {
        return Err(ApiError::CustomerMismatch);
    }
    let order_id = match route.target {
        Target::New => {
            idempotency_key(&headers)?
                .as_deref()
                .map_or_else(OrderId::generate, |key| match &acting_for {
                    Some(customer) => order_id_for_customer_key(customer, key),
                    None => order_id_for_key(key),
                })
        }
        Target::Path => order_id(params.get("id").map_or("", String::as_str))?,
    };
    dispatch(
        &state,
        order_id,
        command,
        &headers,
        route.success,
        acting_for,
    )
    .await
}

/// The customer a customer-scoped token acts for. The admitting middleware always leaves
/// the caller in the request; a route reached without one is a bug.
fn acting_for(principal: Option<&Principal>) -> Result<Option<CustomerId>, ApiError> {
    let principal =
        principal.ok_or_else(|| ApiError::Internal("a command route without a caller".into()))?;
    principal
        .customer
        .as_deref()
        .map(CustomerId::parse)
        .transpose()
        .map_err(|_| ApiError::Denied(guard::Denial::Invalid("customer_id is not a customer id")))
}

/// The order a customer-scoped caller's PlaceOrder with this key creates: keys of two
/// customers never meet on one order.
fn order_id_for_customer_key(customer: &CustomerId, key: &str) -> OrderId {
    OrderId::from_uuid(Uuid::new_v5(
        &IDEMPOTENCY_NAMESPACE,
        format!("order:{customer}:{key}").as_bytes(),
    ))
}

/// The order a PlaceOrder with this `Idempotency-Key` creates: a retry lands on the same
/// order, and a caller can know the id before the answer arrives.
pub fn order_id_for_key(key: &str) -> OrderId {
    OrderId::from_uuid(Uuid::new_v5(
        &IDEMPOTENCY_NAMESPACE,
        format!("order:{key}").as_bytes(),
    ))
}

/// A path id that is not a UUID names no order.
fn order_id(id: &str) -> Result<OrderId, ApiError> {
    OrderId::parse(id).map_err(|_| ApiError::Rejected(schemas::Rejection::OrderNotFound))
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || ApiError::InvalidHeader {
        header: "Idempotency-Key",
        reason: "must be 1 to 255 visible ASCII characters",
    };
    let key = value.to_str().map_err(|_| invalid())?.trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

/// `If-Match: "<version>"` (quotes optional, `W/` refused, `*` means any version).
fn expected_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || ApiError::InvalidHeader {
        header: "If-Match",
        reason: "must be an order version such as \"3\"",
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_matches('"')
        .parse::<u64>()
        .map(Some)
        .map_err(|_| invalid())
}

async fn dispatch(
    state: &AppState,
    order_id: OrderId,
    command: Command,
    headers: &HeaderMap,
    success: StatusCode,
    acting_for: Option<CustomerId>,
) -> Result<Response, ApiError> {
    let bus = state.bus.as_ref().ok_or(ApiError::NotFound)?;
    let expected_version = expected_version(headers)?;
    let command_id = match idempotency_key(headers)? {
        Some(key) => Uuid::new_v5(
            &IDEMPOTENCY_NAMESPACE,
            format!("command:{order_id}:{key}").as_bytes(),
        ),
        None => Uuid::now_v7(),
    };
    let correlation_id = headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok())
        .unwrap_or(command_id);
    let envelope = CommandEnvelope {
        command_id,
        order_id,
        expected_version,
        correlation_id,
        issued_at: Utc::now(),
        fingerprint: CommandEnvelope::fingerprint_of(order_id, &command, expected_version),
        // This request's span when traces are exported (a child of the caller's), else the
        // caller's context as it came.
        traceparent: telemetry::trace::traceparent(&tracing::Span::current()).or_else(|| {
            headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        }),
        acting_for,
        command,
    };
    let result = bus.send(&envelope).await.map_err(|error| match error {
        SendError::Unavailable(error) => ApiError::KafkaUnavailable(error.to_string()),
        SendError::Timeout(_) => ApiError::OutcomeUnknown,
        SendError::Overloaded => ApiError::Overloaded,
    })?;
    let (version, events) = match result.outcome {
        CommandOutcome::Accepted { version, events } => (version, events),
        CommandOutcome::Rejected { rejection } => return Err(ApiError::Rejected(rejection)),
        CommandOutcome::IdempotencyKeyReused => return Err(ApiError::IdempotencyKeyReused),
    };
    let body = Accepted {
        order_id: order_id.as_uuid(),
        version,
        events,
        consistency_token: format!("{order_id}@{version}"),
    };
    let mut response = (success, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, etag);
    }
    if success == StatusCode::CREATED {
        let location = super::location::order_query(&state.query_api_url, order_id, version);
        if let Ok(location) = HeaderValue::from_str(&location) {
            headers.insert(header::LOCATION, location);
        }
    }
    Ok(response)
}
