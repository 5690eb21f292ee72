//! The HTTP surface: GraphQL over POST and GET, subscriptions over websockets, GraphiQL,
//! health and metrics.

use std::time::Instant;

use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::changes::ChangeFeed;
use crate::graphiql::{self, Assets};
use crate::schema::OrderlogSchema;

#[derive(Clone)]
pub struct AppState {
    pub schema: OrderlogSchema,
    pub pool: PgPool,
    pub feed: ChangeFeed,
    pub metrics: PrometheusHandle,
}

pub fn router(state: AppState, assets: Assets, max_body_bytes: usize) -> Router {
    let graphiql = Router::new()
        .route("/", get(graphiql::page))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{name}", get(graphiql::asset))
        .with_state(assets);
    Router::new()
        .route("/graphql", get(graphql).post(graphql))
        .route_service(
            "/graphql/ws",
            GraphQLSubscription::new(state.schema.clone()),
        )
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { state.metrics.render() }),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
        .merge(graphiql)
}

async fn graphql(State(state): State<AppState>, request: GraphQLRequest) -> GraphQLResponse {
    let started = Instant::now();
    let response = state.schema.execute(request.into_inner()).await;
    let outcome = if response.errors.is_empty() {
        "ok"
    } else {
        "error"
    };
    metrics::histogram!("orderlog_query_request_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    response.into()
}

/// Ready when the read models answer and the change signal is being listened to.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = sqlx::query("SELECT 1 FROM orders LIMIT 1")
        .execute(&state.pool)
        .await
        .is_ok();
    let changes = state.feed.is_connected();
    let ready = database && changes;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(json!({ "ready": ready, "database": database, "change_signal": changes })),
    )
}
