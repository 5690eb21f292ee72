//! What every HTTP service does around each request: a request id (the caller's
//! `x-request-id` when it is sane, a new UUID otherwise) on the answer and on every log line
//! of the request's span, and the request counted by route, method and status with labels
//! that stay bounded whatever callers send (an unknown method counts as `other`, a path no
//! route matches as `unmatched`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header carrying the request id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The middleware: `router.layer(axum::middleware::from_fn(telemetry::http::track))`.
pub async fn track(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers().get(&REQUEST_ID));
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID, value);
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let span = tracing::info_span!(
        "http_request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        request_id = %id,
        %method,
        %route,
        subject = tracing::field::Empty,
    );
    // The caller's W3C trace context, when it sent one, is this request's parent.
    crate::trace::set_parent(
        &span,
        request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok()),
    );
    let mut response = next.run(request).instrument(span).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("orderlog_http_request_seconds", "route" => route.clone(), "method" => method, "status" => status.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("orderlog_http_requests_total", "route" => route, "method" => method, "status" => status).increment(1);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The caller's id when it is 1 to 64 visible ASCII characters, else a new one.
fn request_id(given: Option<&HeaderValue>) -> String {
    given
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// A method label from a closed set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_bounded_and_ids_are_kept_only_when_sane() {
        assert_eq!(
            method_label(&Method::from_bytes(b"FROB").expect("method")),
            "other"
        );
        assert_eq!(method_label(&Method::POST), "POST");
        let given = HeaderValue::from_static("req-42");
        assert_eq!(request_id(Some(&given)), "req-42");
        let long = HeaderValue::from_str(&"x".repeat(65)).expect("value");
        assert_ne!(request_id(Some(&long)), "x".repeat(65));
        assert_eq!(request_id(None).len(), 36);
    }
}
