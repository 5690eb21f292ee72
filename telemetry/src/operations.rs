//! The operations routes every service serves the same way: `/healthz` (the process is up),
//! `/readyz` (the service's own check, 503 when not ready) and `/metrics` (Prometheus).
//! A [`Gate`] says who is an operator: `/metrics` answers only them (others get the gate's
//! refusal), and `/readyz` tells only them its details (others get `ready` alone, which is
//! what a load balancer's health check needs).

use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

/// Whether a request comes from an operator, or the answer that refuses it.
pub type Gate = Arc<dyn Fn(&HeaderMap) -> Result<(), Box<Response>> + Send + Sync>;

/// A gate that lets everyone through (a service whose operations port is private).
pub fn open() -> Gate {
    Arc::new(|_| Ok(()))
}

/// What a readiness check found: ready or not, and what a person needs to know why.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    pub ready: bool,
    /// Shown beside `ready` in the answer (each service names its dependencies).
    pub details: Map<String, Value>,
}

/// The operations routes, with `check` answering `/readyz`. Merge them into the service's
/// router.
pub fn router<F, Fut>(check: F, gate: Gate) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Readiness> + Send + 'static,
{
    let metrics = crate::metrics_handle();
    let readiness_gate = gate.clone();
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route(
            "/readyz",
            get(move |headers: HeaderMap| {
                let check = check.clone();
                let operator = readiness_gate(&headers).is_ok();
                async move {
                    let Readiness { ready, mut details } = check().await;
                    if !operator {
                        details.clear();
                    }
                    details.insert("ready".to_owned(), Value::Bool(ready));
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (status, Json(Value::Object(details)))
                }
            }),
        )
        .route(
            "/metrics",
            get(move |headers: HeaderMap| async move {
                match gate(&headers) {
                    Ok(()) => metrics.render().into_response(),
                    Err(refusal) => *refusal,
                }
            }),
        )
}
