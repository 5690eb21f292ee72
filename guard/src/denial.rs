//! Why a request is refused before it reaches a handler: no token, a bad token, a missing
//! scope, or too many requests. Each has an HTTP status, a stable code and the headers the
//! answer carries (`WWW-Authenticate` per RFC 6750, `Retry-After`). Each service renders the
//! body its own way (problem+json, GraphQL errors); [`Denial::problem`] is the plain one.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::scope::Scope;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("a bearer token is required: send Authorization: Bearer <token>")]
    Missing,
    #[error("the bearer token is not valid: {0}")]
    Invalid(&'static str),
    #[error("the token does not carry the scope {0}")]
    Forbidden(Scope),
    #[error("too many requests for this token; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
}

impl Denial {
    /// Every kind, for API documents.
    pub fn every_kind() -> [Denial; 4] {
        [
            Denial::Missing,
            Denial::Invalid(""),
            Denial::Forbidden(Scope::Read),
            Denial::RateLimited { retry_after_s: 1 },
        ]
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Denial::Missing | Denial::Invalid(_) => StatusCode::UNAUTHORIZED,
            Denial::Forbidden(_) => StatusCode::FORBIDDEN,
            Denial::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Stable, lower snake case (problem+json codes).
    pub fn code(&self) -> &'static str {
        match self {
            Denial::Missing => "unauthenticated",
            Denial::Invalid(_) => "invalid_token",
            Denial::Forbidden(_) => "forbidden",
            Denial::RateLimited { .. } => "rate_limited",
        }
    }

    /// The same code in GraphQL's upper snake case.
    pub fn graphql_code(&self) -> &'static str {
        match self {
            Denial::Missing => "UNAUTHENTICATED",
            Denial::Invalid(_) => "INVALID_TOKEN",
            Denial::Forbidden(_) => "FORBIDDEN",
            Denial::RateLimited { .. } => "RATE_LIMITED",
        }
    }

    /// The headers the answer carries: the bearer challenge, or when to retry.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let challenge = match self {
            Denial::Missing => Some(r#"Bearer realm="orderlog""#.to_owned()),
            Denial::Invalid(reason) => Some(format!(
                r#"Bearer realm="orderlog", error="invalid_token", error_description="{reason}""#
            )),
            Denial::Forbidden(scope) => Some(format!(
                r#"Bearer realm="orderlog", error="insufficient_scope", scope="{scope}""#
            )),
            Denial::RateLimited { retry_after_s } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after_s.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
                None
            }
        };
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        headers
    }

    /// A problem+json answer (RFC 9457) with the code and headers.
    pub fn problem(&self) -> Response {
        let body = json!({
            "type": format!("https://orderlog.dev/problems/{}", self.code()),
            "title": self.code().replace('_', " "),
            "status": self.status().as_u16(),
            "detail": self.to_string(),
            "code": self.code(),
        });
        let mut response = (self.status(), self.headers(), axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_denial_has_its_status_code_and_challenge() {
        let missing = Denial::Missing.headers();
        assert_eq!(
            missing[header::WWW_AUTHENTICATE],
            r#"Bearer realm="orderlog""#
        );
        let forbidden = Denial::Forbidden(Scope::Write);
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        assert!(
            forbidden.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .is_ok_and(|v| v.contains(r#"scope="orders:write""#))
        );
        let limited = Denial::RateLimited { retry_after_s: 3 };
        assert_eq!(limited.headers()[header::RETRY_AFTER], "3");
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        let codes: std::collections::HashSet<_> =
            Denial::every_kind().iter().map(Denial::code).collect();
        assert_eq!(codes.len(), 4);
    }
}
