//! The HTTP surface: GraphQL over POST and GET, subscriptions over websockets, GraphiQL,
//! health and metrics.

use std::time::Instant;

use async_graphql_axum::{GraphQLRequest, GraphQLResponse, GraphQLSubscription};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use serde_json::{Map, Value};
use sqlx::PgPool;
use telemetry::operations::Readiness;

use crate::changes::ChangeFeed;
use crate::freshness::WaitBudget;
use crate::graphiql::{self, Assets};
use crate::schema::OrderlogSchema;

#[derive(Clone)]
pub struct AppState {
    pub schema: OrderlogSchema,
    pub pool: PgPool,
    pub feed: ChangeFeed,
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
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state.clone())
        .merge(graphiql)
        .merge(telemetry::operations::router(move || {
            readiness(state.clone())
        }))
        .layer(axum::middleware::from_fn(telemetry::http::track))
}

async fn graphql(State(state): State<AppState>, request: GraphQLRequest) -> GraphQLResponse {
    let started = Instant::now();
    // One freshness budget per request, shared by all its consistency waits.
    let request = request.into_inner().data(WaitBudget::default());
    let response = state.schema.execute(request).await;
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
async fn readiness(state: AppState) -> Readiness {
    let database = sqlx::query("SELECT 1 FROM orders LIMIT 1")
        .execute(&state.pool)
        .await
        .is_ok();
    let changes = state.feed.is_connected();
    let mut details = Map::new();
    details.insert("database".to_owned(), Value::Bool(database));
    details.insert("change_signal".to_owned(), Value::Bool(changes));
    Readiness {
        ready: database && changes,
        details,
    }
}
