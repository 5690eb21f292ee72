//! Liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;

/// The process is up.
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when Kafka answers (HTTP role) and the processor role has its partitions.
pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let kafka = match state.bus.clone() {
        Some(bus) => tokio::task::spawn_blocking(move || bus.kafka_reachable())
            .await
            .unwrap_or(false),
        None => true,
    };
    let processor = state
        .processor
        .as_ref()
        .map(|p| (p.is_ready(), p.partitions(), p.unserved()));
    let ready = kafka && processor.as_ref().is_none_or(|(ready, ..)| *ready);
    let body = json!({
        "ready": ready,
        "kafka": kafka,
        "processor": processor.map(|(ready, partitions, unserved)| json!({ "ready": ready, "partitions": partitions, "unserved": unserved })),
    });
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

pub(super) async fn metrics(State(state): State<AppState>) -> String {
    state.metrics.render()
}
