//! Every error a client can see carries a stable `extensions.code`.
//!
//! | code | when |
//! |---|---|
//! | `BAD_USER_INPUT` | an argument is malformed (an id, a range, a token) |
//! | `BAD_CURSOR` | a cursor this API did not give out, or one from another sort |
//! | `PAGE_SIZE_TOO_LARGE` | `first`/`last` above the page size maximum, or below zero |
//! | `READ_MODEL_BEHIND` | a read-your-writes wait ran out before the read model caught up |
//! | `DATABASE_UNAVAILABLE` | the read models could not be reached in time |
//! | `UNAUTHENTICATED` | no bearer token (HTTP 401, `WWW-Authenticate` set) |
//! | `INVALID_TOKEN` | the token is not valid (HTTP 401) |
//! | `FORBIDDEN` | the token lacks `orders:read` (HTTP 403), or a customer's token asks for what spans every customer |
//! | `RATE_LIMITED` | the token's subject sent too many requests (HTTP 429, Retry-After set) |
//! | `TOO_MANY_SUBSCRIPTIONS` | a WebSocket connection holds the most subscriptions it may |
//! | `INTERNAL` | a bug; details are in the service's log, not in the answer |
//! | `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED` | the query text is not valid |
//! | `QUERY_TOO_LARGE`, `QUERY_TOO_DEEP`, `QUERY_TOO_COMPLEX` | a limit was exceeded |
//! | `INTROSPECTION_DISABLED` | the query asks for `__schema` or `__type` where introspection is off |

use async_graphql::{ErrorExtensions, ServerError};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use guard::Denial;
use serde_json::json;

use crate::pagination::PageError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Page(#[from] PageError),
    #[error(
        "the {projection} read model has not reached {wanted} after {waited_ms} ms; it is behind the log. \
         Retry later, or read without a consistency token to get what it has now"
    )]
    Behind {
        projection: &'static str,
        wanted: String,
        waited_ms: u128,
    },
    #[error("the read models cannot be reached right now; retry shortly")]
    Unavailable,
    #[error("{0}")]
    Forbidden(String),
    #[error("this connection already holds {0} subscriptions, the most it may")]
    TooManySubscriptions(usize),
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadInput(_) => "BAD_USER_INPUT",
            ApiError::Page(PageError::PageSize { .. }) => "PAGE_SIZE_TOO_LARGE",
            ApiError::Page(PageError::FirstAndLast) => "BAD_USER_INPUT",
            ApiError::Page(_) => "BAD_CURSOR",
            ApiError::Behind { .. } => "READ_MODEL_BEHIND",
            ApiError::Unavailable => "DATABASE_UNAVAILABLE",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::TooManySubscriptions(_) => "TOO_MANY_SUBSCRIPTIONS",
            ApiError::Internal => "INTERNAL",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        let transient = match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // The server going away (57: operator intervention such as a shutdown, 08: the
            // connection, 53: out of resources) or a standby cancelling for recovery (40001).
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                ["57", "08", "53"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || code == "40001"
            }),
            _ => false,
        };
        match error {
            error if transient => {
                tracing::warn!(%error, "read models unavailable");
                ApiError::Unavailable
            }
            error => {
                tracing::error!(%error, "query failed");
                ApiError::Internal
            }
        }
    }
}

/// What `ctx.data()` fails with: the schema was built without a piece of its context, a
/// bug. Logged here; the client sees `INTERNAL`.
impl From<async_graphql::Error> for ApiError {
    fn from(error: async_graphql::Error) -> Self {
        tracing::error!(error = %error.message, "schema context incomplete");
        ApiError::Internal
    }
}

impl From<async_graphql::Error> for GraphqlError {
    fn from(error: async_graphql::Error) -> Self {
        ApiError::from(error).into()
    }
}

/// An error on its way to the client, with its code in `extensions.code`. It has no
/// `Display`, so async-graphql's catch-all conversion (which would drop the code) cannot
/// apply: every error a resolver returns goes through [`ApiError`].
#[derive(Debug, Clone)]
pub struct GraphqlError(async_graphql::Error);

impl From<ApiError> for GraphqlError {
    fn from(error: ApiError) -> Self {
        metrics::counter!("orderlog_query_errors_total", "code" => error.code()).increment(1);
        let code = error.code();
        Self(async_graphql::Error::new(error.to_string()).extend_with(|_, e| e.set("code", code)))
    }
}

impl From<GraphqlError> for async_graphql::Error {
    fn from(error: GraphqlError) -> Self {
        error.0
    }
}

pub type ApiResult<T> = Result<T, GraphqlError>;

/// A data loader's shared error, back as the error it was.
pub fn loaded<T>(result: Result<T, std::sync::Arc<ApiError>>) -> Result<T, ApiError> {
    result.map_err(|error| (*error).clone())
}

/// A refused GraphQL request: the denial's HTTP status and headers, and a GraphQL error
/// with the code in `extensions.code`.
pub(crate) fn denied(denial: &Denial) -> Response {
    let body = json!({
        "errors": [{
            "message": denial.to_string(),
            "extensions": { "code": denial.graphql_code() }
        }]
    });
    let mut response = (denial.status(), denial.headers(), axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/graphql-response+json"),
    );
    response
}

/// `error` with `code`, unless it has a code already (then it was counted already too).
pub(crate) fn with_code(mut error: ServerError, code: &'static str) -> ServerError {
    let mut extensions = error.extensions.take().unwrap_or_default();
    if extensions.get("code").is_none() {
        metrics::counter!("orderlog_query_errors_total", "code" => code).increment(1);
        extensions.set("code", code);
    }
    error.extensions = Some(extensions);
    error
}

/// The code of a validation error, from async-graphql's messages for its limits.
pub(crate) fn validation_code(error: &ServerError) -> &'static str {
    if error.message.contains("nested too deep") {
        "QUERY_TOO_DEEP"
    } else if error.message.contains("too complex") {
        "QUERY_TOO_COMPLEX"
    } else {
        "GRAPHQL_VALIDATION_FAILED"
    }
}
