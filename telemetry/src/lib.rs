//! What every orderlog binary sets up the same way: logs, the Prometheus recorder, the
//! operations routes and the shutdown signal. The `metrics` facade and the log subscriber
//! are process-wide, so this crate owns them once per process, whichever service (or test)
//! asks first.
//!
//! Layout: this file (logs, metrics recorder, shutdown signal); [`http`] (request ids and
//! bounded request metrics); [`operations`] (`/healthz`,
//! `/readyz`, `/metrics`); [`pool`] (database pool gauges); [`server`] (serving HTTP with timeouts, a cap on requests in
//! flight and a bounded shutdown); [`trace`] (spans exported over OTLP, the W3C context
//! carried with the work). [`Secret`] (settings that never print) is re-exported from the
//! `secret` crate.

pub mod http;
pub mod operations;
pub mod pool;
pub mod server;
pub mod trace;

pub use secret::Secret;

use std::sync::OnceLock;

use clap::ValueEnum;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// How logs are written: JSON lines for machines, or text for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

/// Installs the log subscriber (`RUST_LOG` filters; default `info`). A second call is a no-op.
pub fn init_logs(format: LogFormat) {
    init(format, "orderlog", &trace::TraceSettings::default());
}

/// Installs the log subscriber and, when `traces` names an OTLP endpoint, the span exporter
/// reporting as `service`. A second call is a no-op.
pub fn init(format: LogFormat, service: &str, traces: &trace::TraceSettings) {
    init_to(format, service, traces, std::io::stdout);
}

/// [`init`], with the logs written to `writer` instead of standard output (a test's log
/// file, for example). Whether this call installed the subscriber.
pub fn init_to<W>(
    format: LogFormat,
    service: &str,
    traces: &trace::TraceSettings,
    writer: W,
) -> bool
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .json()
            .flatten_event(true)
            .with_target(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .boxed(),
    };
    let mut problem = None;
    let spans = traces.otlp_endpoint.as_deref().and_then(|endpoint| {
        trace::layer(service, endpoint)
            .map_err(|e| problem = Some(e))
            .ok()
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init()
        .is_ok();
    if let (true, Some(problem)) = (installed, problem) {
        tracing::warn!(%problem, "traces are not exported");
    }
    installed
}

/// Latency buckets, in seconds, shared by every histogram: half a millisecond to ten seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// Buckets for histograms of counts (metrics named `*_keys` or `*_batch_size`, such as keys
/// per DataLoader batch or commands per transaction).
const COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// The process's Prometheus recorder, installed on first use. Every service in the process
/// (several share one in the tests) renders the same registry.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_keys".to_owned()), COUNT_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Suffix("_batch_size".to_owned()),
                        COUNT_BUCKETS,
                    )
                })
                .map(PrometheusBuilder::build_recorder)
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Resolves on Ctrl-C or SIGTERM: what a service waits on before draining.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(term) => {
                term.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}
