//! The operations routes every service serves the same way: `/healthz` (the process is up),
//! `/readyz` (the service's own check, 503 when not ready) and `/metrics` (Prometheus).

use std::future::Future;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Map, Value, json};

/// What a readiness check found: ready or not, and what a person needs to know why.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    pub ready: bool,
    /// Shown beside `ready` in the answer (each service names its dependencies).
    pub details: Map<String, Value>,
}

/// The operations routes, with `check` answering `/readyz`. Merge them into the service's
/// router.
pub fn router<F, Fut>(check: F) -> Router
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Readiness> + Send + 'static,
{
    let metrics = crate::metrics_handle();
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route(
            "/readyz",
            get(move || {
                let check = check.clone();
                async move {
                    let Readiness { ready, mut details } = check().await;
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
        .route("/metrics", get(move || async move { metrics.render() }))
}
