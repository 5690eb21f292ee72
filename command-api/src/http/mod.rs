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
use axum::routing::{MethodFilter, get, on};

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
    router
        .fallback(|| async { error::ApiError::NotFound })
        // The body extractor enforces the limit itself, with a problem+json answer.
        .layer(axum::extract::DefaultBodyLimit::max(
            state.max_body_bytes.saturating_add(1),
        ))
        .with_state(state)
        .merge(telemetry::operations::router(readiness))
        .layer(axum::middleware::from_fn(telemetry::http::track))
}
