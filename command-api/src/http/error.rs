//! The API's one error type: every failure becomes an RFC 9457 problem+json response with
//! a stable `code`. Internal causes are logged once, here, and never sent to the client.
//!
//! | code | HTTP | when |
//! | --- | --- | --- |
//! | (each domain rejection) | 404/409/412/422 | see `schemas::Rejection` |
//! | `invalid_field` | 422 | a field is missing or its value is invalid (`field` says which) |
//! | `idempotency_key_reused` | 422 | the Idempotency-Key was used with another request |
//! | `malformed_json` | 400 | the body is not JSON |
//! | `invalid_header` | 400 | `Idempotency-Key` or `If-Match` is malformed |
//! | `body_too_large` | 413 | the body exceeds the configured limit |
//! | `unsupported_media_type` | 415 | the body is not `application/json` |
//! | `not_found` | 404 | no such route |
//! | `unauthenticated` | 401 | no bearer token (`WWW-Authenticate` set) |
//! | `invalid_token` | 401 | the token is not valid: signature, issuer, audience, expiry (`WWW-Authenticate` says why) |
//! | `forbidden` | 403 | the token lacks the route's scope |
//! | `customer_mismatch` | 403 | a token for one customer places an order for another |
//! | `rate_limited` | 429 | the token's subject sent too many requests (Retry-After set) |
//! | `kafka_unavailable` | 503 | Kafka did not take the command in time, or is known to be out of reach (Retry-After set) |
//! | `overloaded` | 503 | too many commands wait for their results (Retry-After set) |
//! | `outcome_unknown` | 503 | no result in time; retry with the same Idempotency-Key |
//! | `internal` | 500 | a bug; the log has the cause |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use schemas::Rejection;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Rejected(Rejection),
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("header {header} {reason}")]
    InvalidHeader {
        header: &'static str,
        reason: &'static str,
    },
    #[error("the body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the body must be JSON, sent with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("no such resource")]
    NotFound,
    #[error("{0}")]
    Denied(guard::Denial),
    #[error("a token for one customer may only place orders for that customer")]
    CustomerMismatch,
    #[error(
        "Kafka did not take the command in time (or is out of reach); it may not have been \
         written. Retry with the same Idempotency-Key"
    )]
    KafkaUnavailable(String),
    #[error("too many commands are waiting for their results; retry shortly")]
    Overloaded,
    #[error(
        "the command was sent but its result did not arrive in time, so its outcome is unknown. \
         Retry with the same Idempotency-Key: a command that was applied is not applied twice"
    )]
    OutcomeUnknown,
    #[error("internal error")]
    Internal(String),
}

/// RFC 9457 problem details with a stable code: the body of every error answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// `https://orderlog.dev/problems/<code>`.
    #[schemars(url)]
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code (docs/api.md lists them).
    pub code: &'static str,
    /// For `invalid_field` only: the JSON path of the field, such as `lines[0].quantity`.
    /// Absent from every other answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub field: Option<String>,
    /// For domain rejections only: the rejection with its details. Absent from every
    /// other answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub rejection: Option<serde_json::Value>,
}

impl ApiError {
    /// One error of every kind a command route can answer with (every domain rejection
    /// included), for the OpenAPI document's responses.
    pub fn every_kind() -> Vec<ApiError> {
        let mut kinds: Vec<ApiError> = Rejection::every_kind()
            .into_iter()
            .map(ApiError::Rejected)
            .collect();
        kinds.extend(guard::Denial::every_kind().map(ApiError::Denied));
        kinds.extend([
            ApiError::InvalidField {
                field: String::new(),
                reason: String::new(),
            },
            ApiError::IdempotencyKeyReused,
            ApiError::MalformedJson(String::new()),
            ApiError::InvalidHeader {
                header: "",
                reason: "",
            },
            ApiError::BodyTooLarge { limit: 0 },
            ApiError::UnsupportedMediaType,
            ApiError::CustomerMismatch,
            ApiError::KafkaUnavailable(String::new()),
            ApiError::Overloaded,
            ApiError::OutcomeUnknown,
        ]);
        kinds
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Rejected(rejection) => rejection.code(),
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidHeader { .. } => "invalid_header",
            ApiError::BodyTooLarge { .. } => "body_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::NotFound => "not_found",
            ApiError::Denied(denial) => denial.code(),
            ApiError::CustomerMismatch => "customer_mismatch",
            ApiError::KafkaUnavailable(_) => "kafka_unavailable",
            ApiError::OutcomeUnknown => "outcome_unknown",
            ApiError::Overloaded => "overloaded",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Rejected(rejection) => StatusCode::from_u16(rejection.http_status())
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            ApiError::InvalidField { .. } | ApiError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::MalformedJson(_) | ApiError::InvalidHeader { .. } => StatusCode::BAD_REQUEST,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Denied(denial) => denial.status(),
            ApiError::CustomerMismatch => StatusCode::FORBIDDEN,
            ApiError::KafkaUnavailable(_) | ApiError::OutcomeUnknown | ApiError::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(&self) -> String {
        let code = self.code().replace('_', " ");
        let mut chars = code.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ApiError::KafkaUnavailable(cause) => tracing::warn!(%cause, "kafka unavailable"),
            _ => {}
        }
        let status = self.status();
        let body = Problem {
            type_uri: format!("https://orderlog.dev/problems/{}", self.code()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: self.code(),
            field: match &self {
                ApiError::InvalidField { field, .. } => Some(field.clone()),
                _ => None,
            },
            rejection: match &self {
                ApiError::Rejected(rejection) => serde_json::to_value(rejection).ok(),
                _ => None,
            },
        };
        metrics::counter!("orderlog_http_errors_total", "code" => self.code()).increment(1);
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::Denied(denial) = &self {
            headers.extend(denial.headers());
        }
        response
    }
}
