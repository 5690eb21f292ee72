//! How every service serves HTTP, bounded against slow and idle clients:
//!
//! - a request's headers must arrive within `header_read_timeout` (a half-sent request does
//!   not hold its connection);
//! - a whole request, body and handler included, within `request_timeout` (then 408);
//! - at most `max_in_flight` requests at once (then 503 with `Retry-After`, not a queue);
//! - on shutdown: stop accepting, let requests in flight finish, close idle keep-alive
//!   connections, and after `shutdown_grace` drop whatever is still open, so a stop is
//!   bounded whatever the clients do.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The HTTP bounds of a service, flattened into its configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpLimits {
    /// Longest a client may take to send a request's headers, in ms.
    #[arg(
        long,
        env = "ORDERLOG_HTTP_HEADER_READ_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub header_read_timeout_ms: u64,

    /// Longest a whole request may take, body and answer included, in ms (then 408).
    #[arg(
        long,
        env = "ORDERLOG_HTTP_REQUEST_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub request_timeout_ms: u64,

    /// Most requests served at once; past it a request is answered 503 at once.
    #[arg(long, env = "ORDERLOG_HTTP_MAX_IN_FLIGHT", default_value_t = 4_096)]
    pub max_in_flight: usize,

    /// How long a stop waits for requests in flight before closing what is still open, in ms.
    #[arg(long, env = "ORDERLOG_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 5_000,
            request_timeout_ms: 30_000,
            max_in_flight: 4_096,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl HttpLimits {
    /// The request timeout and the cap on requests in flight, as a layer of `router`.
    pub fn apply(&self, router: Router) -> Router {
        let bounds = Arc::new(Bounds {
            permits: Arc::new(Semaphore::new(self.max_in_flight)),
            timeout: Duration::from_millis(self.request_timeout_ms),
        });
        router.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let bounds = bounds.clone();
                async move { bounds.run(request, next).await }
            },
        ))
    }
}

struct Bounds {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl Bounds {
    async fn run(&self, request: Request, next: Next) -> Response {
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            metrics::counter!("orderlog_http_refused_total", "reason" => "in_flight").increment(1);
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many requests are in flight; retry shortly",
            );
        };
        match tokio::time::timeout(self.timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                metrics::counter!("orderlog_http_refused_total", "reason" => "timeout")
                    .increment(1);
                problem(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request took longer than the service allows",
                )
            }
        }
    }
}

fn problem(status: StatusCode, code: &'static str, detail: &'static str) -> Response {
    let body = serde_json::json!({
        "type": format!("https://orderlog.dev/problems/{code}"),
        "title": code.replace('_', " "),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Serves `router` on `listener` until `shutdown` completes, then stops within the grace.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &HttpLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms));
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors, for example: wait a moment, go on.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let connection = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                connections.spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
                while connections.try_join_next().is_some() {}
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(open = connections.len(), grace_ms = limits.shutdown_grace_ms, "connections still open after the shutdown grace; closing them");
        }
    }
    connections.shutdown().await;
    Ok(())
}
