//! The HTTP intake: routes, shared state, and the middleware around them.

mod body;
pub mod error;
mod health;
mod location;
pub mod openapi;
mod orders;
mod routes;

pub use orders::order_id_for_key;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::extract::{Path, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, get, on};
use guard::Scope;

use crate::intake::CommandBus;
use crate::processor::ProcessorStatus;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// `None` when this process runs only the processor role.
    pub bus: Option<CommandBus>,
    /// `None` when this process runs only the HTTP role.
    pub processor: Option<ProcessorStatus>,
    pub max_body_bytes: usize,
    pub openapi: Arc<serde_json::Value>,
    /// Where clients read orders (the `Location` of a placed order points there).
    pub query_api_url: String,
    /// Who may call.
    pub guard: guard::Guard,
}

pub fn router(state: AppState) -> Router {
    let readiness = {
        let state = state.clone();
        move || health::readiness(state.clone())
    };
    let mut router = Router::new().route("/openapi.json", get(openapi::serve));
    if state.bus.is_some() {
        for route in &routes::ROUTES {
            let filter = MethodFilter::try_from(route.method.clone())
                .expect("the route table uses standard methods");
            router = router.route(
                route.path,
                on(
                    filter,
                    move |State(state): State<AppState>,
                          Path(params): Path<routes::Params>,
                          request: Request| {
                        orders::handle(route, state, params, request)
                    },
                ),
            );
        }
    }
    let gate = {
        let guard = state.guard.clone();
        std::sync::Arc::new(move |headers: &axum::http::HeaderMap| {
            guard
                .admit(headers, Scope::Admin)
                .map(drop)
                .map_err(|denial| Box::new(error::ApiError::Denied(denial).into_response()))
        })
    };
    router
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), admit))
        .fallback(|| async { error::ApiError::NotFound })
        // The body extractor enforces the limit itself, with a problem+json answer.
        .layer(axum::extract::DefaultBodyLimit::max(
            state.max_body_bytes.saturating_add(1),
        ))
        .with_state(state)
        .merge(telemetry::operations::router(readiness, gate))
        .layer(axum::middleware::from_fn(telemetry::http::track))
}

/// Admits a command request whose token carries `orders:write`; the handler finds the
/// caller among the request's extensions.
async fn admit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if request.uri().path() == "/openapi.json" {
        return next.run(request).await;
    }
    match state.guard.admit(request.headers(), Scope::Write) {
        Ok(principal) => {
            tracing::Span::current().record("subject", principal.subject.as_str());
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(denial) => error::ApiError::Denied(denial).into_response(),
    }
}
