//! The HTTP surface: GraphQL over POST and GET (with ETags: `http_cache`), subscriptions over
//! websockets, GraphiQL, health and metrics.

use async_graphql_axum::GraphQLRequest;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use guard::{Guard, Scope};
use serde_json::{Map, Value};
use sqlx::PgPool;
use telemetry::operations::Readiness;

use crate::changes::ChangeFeed;
use crate::errors::denied;
use crate::freshness::WaitBudget;
use crate::graphiql::{self, Assets};
use crate::http_cache;
use crate::schema::OrderlogSchema;
use crate::ws::{self, WsState};

#[derive(Clone)]
pub struct AppState {
    pub schema: OrderlogSchema,
    pub pool: PgPool,
    pub feed: ChangeFeed,
    pub guard: Guard,
}

pub fn router(state: AppState, ws: WsState, assets: Assets, max_body_bytes: usize) -> Router {
    let graphiql = Router::new()
        .route("/", get(graphiql::page))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/assets/{name}", get(graphiql::asset))
        .with_state(assets);
    Router::new()
        .route("/graphql", get(graphql).post(graphql))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state.clone())
        .merge(
            Router::new()
                .route("/graphql/ws", get(ws::upgrade))
                .with_state(ws),
        )
        .merge(graphiql)
        .merge(telemetry::operations::router(
            {
                let state = state.clone();
                move || readiness(state.clone())
            },
            operator_gate(state.guard.clone()),
        ))
        .layer(axum::middleware::from_fn(telemetry::http::track))
}

/// Who may see `/metrics` and the details of `/readyz`: tokens with `orders:admin`.
fn operator_gate(guard: Guard) -> telemetry::operations::Gate {
    std::sync::Arc::new(move |headers: &HeaderMap| {
        guard
            .admit(headers, Scope::Admin)
            .map(drop)
            .map_err(|denial| Box::new(denial.problem()))
    })
}

async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let principal = match state.guard.admit(&headers, Scope::Read) {
        Ok(principal) => principal,
        Err(denial) => return denied(&denial),
    };
    tracing::Span::current().record("subject", principal.subject.as_str());
    // One freshness budget per request, shared by all its consistency waits.
    let request = request
        .into_inner()
        .data(WaitBudget::default())
        .data(principal);
    let response = state.schema.execute(request).await;
    http_cache::answer(response, &headers)
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
