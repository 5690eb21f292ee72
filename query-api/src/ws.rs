//! GraphQL over WebSocket (`graphql-transport-ws` and the older `graphql-ws`), bounded:
//!
//! - the caller is checked at `connection_init`: its payload carries
//!   `{"Authorization": "Bearer <token>"}` (browsers cannot set headers on a WebSocket), or
//!   the upgrade request carries the header; a connection with neither is closed with the
//!   code in the reason (`UNAUTHENTICATED: ...`), one that does not initialise in time too;
//! - at most `max_connections` connections at once (past it the upgrade answers 503 with
//!   `Retry-After`), `max_subscriptions` subscriptions per connection
//!   (`TOO_MANY_SUBSCRIPTIONS`), and messages of at most `max_message_bytes`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use guard::{Denial, Guard, Principal, Scope};
use tokio::sync::Semaphore;

use crate::schema::OrderlogSchema;
use crate::slots::Slots;

/// How long a connection may take to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct WsLimits {
    pub max_connections: usize,
    pub max_subscriptions: usize,
    pub max_message_bytes: usize,
}

#[derive(Clone)]
pub struct WsState {
    pub schema: OrderlogSchema,
    pub guard: Guard,
    pub limits: WsLimits,
    connections: Arc<Semaphore>,
}

impl WsState {
    pub fn new(schema: OrderlogSchema, guard: Guard, limits: WsLimits) -> Self {
        Self {
            schema,
            guard,
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
        }
    }
}

/// `GET /graphql/ws`.
pub async fn upgrade(
    State(state): State<WsState>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A token on the upgrade request itself counts (non-browser clients can send one);
    // a bad one is refused before the upgrade.
    let from_header = match guard::bearer(&headers) {
        Err(Denial::Missing) => None,
        _ => match state.guard.admit(&headers, Scope::Read) {
            Ok(principal) => Some(principal),
            Err(denial) => return crate::errors::denied(&denial),
        },
    };
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        metrics::counter!("orderlog_query_ws_refused_total").increment(1);
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections; retry shortly",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let limits = state.limits;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limits.max_message_bytes)
        .max_frame_size(limits.max_message_bytes)
        .on_upgrade(move |socket| async move {
            let initialised = Arc::new(AtomicBool::new(false));
            let guard = state.guard.clone();
            let marked = initialised.clone();
            let serve = GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    let principal = match from_header {
                        Some(principal) => principal,
                        None => admit(&guard, &payload)?,
                    };
                    marked.store(true, Ordering::SeqCst);
                    let mut data = Data::default();
                    data.insert(principal);
                    data.insert(Slots::new(limits.max_subscriptions));
                    Ok(data)
                })
                .serve();
            tokio::pin!(serve);
            let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
            tokio::select! {
                () = &mut serve => {}
                () = init_deadline => {
                    if !initialised.load(Ordering::SeqCst) {
                        tracing::info!("WebSocket closed: no connection_init in time");
                    } else {
                        serve.await;
                    }
                }
            }
            drop(permit);
        })
}

/// The caller named by `connection_init`'s payload.
fn admit(guard: &Guard, payload: &serde_json::Value) -> async_graphql::Result<Principal> {
    let refuse =
        |denial: Denial| async_graphql::Error::new(format!("{}: {denial}", denial.graphql_code()));
    let token = token_in(payload).ok_or_else(|| refuse(Denial::Missing))?;
    guard.admit_token(token, Scope::Read).map_err(refuse)
}

/// `{"Authorization": "Bearer <token>"}` (the key in any case), or `{"token": "<token>"}`.
fn token_in(payload: &serde_json::Value) -> Option<&str> {
    let object = payload.as_object()?;
    for (key, value) in object {
        let value = value.as_str()?;
        if key.eq_ignore_ascii_case("authorization") {
            let (scheme, token) = value.split_once(' ')?;
            return scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim());
        }
        if key == "token" {
            return Some(value.trim());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_token_is_found_in_the_usual_payloads() {
        assert_eq!(
            token_in(&json!({"Authorization": "Bearer abc"})),
            Some("abc")
        );
        assert_eq!(
            token_in(&json!({"authorization": "bearer abc"})),
            Some("abc")
        );
        assert_eq!(token_in(&json!({"token": "abc"})), Some("abc"));
        assert_eq!(token_in(&json!({"Authorization": "Basic abc"})), None);
        assert_eq!(token_in(&json!(null)), None);
        assert_eq!(token_in(&json!({"Authorization": 5})), None);
    }
}
