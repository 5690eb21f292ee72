//! Traces: the `tracing` spans of the units of work (an HTTP request, a command's trip
//! through the processor's transaction, a projector's apply, a GraphQL operation), exported
//! over OTLP/HTTP when an endpoint is configured (off by default). The W3C trace context
//! travels with the work: from the request's `traceparent` to the command record, from the
//! processor's span to the events' headers, from there to the projector's span, so one trace
//! shows a command from its request to the row it changed.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Where traces go, flattened into each binary's configuration.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TraceSettings {
    /// OTLP/HTTP endpoint of a trace collector (such as Jaeger's `http://127.0.0.1:4318`);
    /// traces are exported only when it is set.
    #[arg(long, env = "ORDERLOG_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether spans are exported (work that exists only for traces checks this first).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The OpenTelemetry layer exporting to `endpoint` as `service`, or why it could not be made.
pub(crate) fn layer<S>(
    service: &str,
    endpoint: &str,
) -> Result<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>, String>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    // The exporter's blocking HTTP client must be made (and dropped) off the async runtime.
    let exporter = std::thread::spawn(move || {
        opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .build()
    })
    .join()
    .map_err(|_| "the exporter thread panicked".to_owned())?
    .map_err(|e| e.to_string())?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build();
    let tracer = provider.tracer(service.to_owned());
    let _ = PROVIDER.set(provider);
    ENABLED.store(true, Ordering::Relaxed);
    Ok(tracing_opentelemetry::layer().with_tracer(tracer))
}

/// Sends the spans still buffered (at shutdown).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.force_flush();
    }
}

/// Makes `span` a child of the W3C `traceparent`, when there is one and it parses.
pub fn set_parent(span: &Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(context);
}

/// The W3C `traceparent` of `span`, when it is exported (a record carries it onwards).
pub fn traceparent(span: &Span) -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.remove("traceparent")
}
