//! The HTTP surface: GraphQL over POST and GET (with ETags: `http_cache`), subscriptions over
//! websockets, GraphiQL, health and metrics.

use std::sync::Arc;
use std::time::Instant;

use async_graphql_axum::GraphQLRequest;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use guard::{Guard, Scope};
use serde_json::{Map, Value};
use sqlx::PgPool;
use telemetry::operations::Readiness;

use crate::answer_cache::{AnswerCache, Asked, Sources};
use crate::changes::ChangeFeed;
use crate::errors::denied;
use crate::freshness::WaitBudget;
use crate::graphiql::{self, Assets};
use crate::http_cache;
use crate::operation_metrics::{OperationNames, record_served};
use crate::order_cache::Ticket;
use crate::schema::OrderlogSchema;
use crate::ws::{self, WsState};

#[derive(Clone)]
pub struct AppState {
    pub schema: OrderlogSchema,
    pub pool: PgPool,
    pub feed: ChangeFeed,
    pub guard: Guard,
    pub answers: AnswerCache,
    pub names: Arc<OperationNames>,
}

pub fn router(state: AppState, ws: WsState, assets: Assets, max_body_bytes: usize) -> Router {
    // Shared, not cloned field by field for every request.
    let state = Arc::new(state);
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
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let principal = match state.guard.admit(&headers, Scope::Read) {
        Ok(principal) => principal,
        Err(denial) => return denied(&denial),
    };
    tracing::Span::current().record("subject", principal.subject.as_str());
    let started = Instant::now();
    let request = request.into_inner();
    let asked = state.answers.asked(&request, &principal);
    if let Some(answer) = asked
        .as_ref()
        .and_then(|asked| state.answers.get(&asked.key, &principal))
    {
        record_served(&state.names, answer.operation.as_deref(), started);
        return http_cache::reply(http_cache::Encoded::kept(&answer), &headers);
    }
    // What the answer cache needs to keep the answer, when it may.
    let kept = asked.map(|asked| Keeping {
        asked,
        text: request.query.clone(),
        operation: request.operation_name.clone(),
        sources: Arc::new(Sources::default()),
        ticket: state.answers.ticket(),
    });
    // One freshness budget per request, shared by all its consistency waits.
    let mut request = request.data(WaitBudget::default()).data(principal);
    if let Some(keeping) = &kept {
        request = request.data(keeping.sources.clone());
    }
    let encoded = http_cache::Encoded::of(state.schema.execute(request).await);
    if let (Some(keeping), Some(encoded)) = (kept, &encoded)
        && encoded.ok
    {
        state.answers.keep(
            keeping.asked,
            &keeping.text,
            keeping.operation.as_deref(),
            &keeping.sources,
            keeping.ticket,
            encoded.body.clone(),
            encoded.etag.clone(),
        );
    }
    match encoded {
        Some(encoded) => http_cache::reply(encoded, &headers),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A request on its way to the answer cache.
struct Keeping {
    asked: Asked,
    text: String,
    operation: Option<String>,
    sources: Arc<Sources>,
    ticket: Ticket,
}

/// Ready when the read models answer and the change signal is being listened to.
async fn readiness(state: Arc<AppState>) -> Readiness {
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
