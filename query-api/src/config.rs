//! The one configuration of the query-api binary, from flags or environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// orderlog query-api: GraphQL over the read models.
///
/// Every flag can also be set through the environment variable shown with it.
#[derive(Debug, Clone, Parser)]
#[command(name = "query-api", version)]
pub struct Config {
    /// Address to serve GraphQL, GraphiQL, health and metrics on.
    #[arg(long, env = "ORDERLOG_QUERY_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,

    /// PostgreSQL to read from: the read models' primary or one of its replicas. The
    /// connections are opened read-only.
    #[arg(
        long,
        env = "ORDERLOG_QUERY_DATABASE_URL",
        default_value = "postgres://orderlog:orderlog@127.0.0.1:5432/orderlog",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_url: telemetry::Secret,

    /// PostgreSQL to LISTEN on for the projectors' change signal: the primary (a hot
    /// standby cannot LISTEN). Defaults to the read pool's URL.
    #[arg(
        long,
        env = "ORDERLOG_QUERY_NOTIFY_DATABASE_URL",
        hide_env_values = true
    )]
    pub notify_database_url: Option<telemetry::Secret>,

    /// Most connections in the read pool.
    #[arg(long, env = "ORDERLOG_QUERY_POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,

    /// Most items a page of a connection may ask for (`first` or `last`).
    #[arg(long, env = "ORDERLOG_QUERY_MAX_PAGE_SIZE", default_value_t = 100)]
    pub max_page_size: usize,

    /// Deepest nesting of selections a query may have.
    #[arg(long, env = "ORDERLOG_QUERY_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,

    /// Highest complexity a query may have (each field costs 1, times the page size below
    /// a connection).
    #[arg(long, env = "ORDERLOG_QUERY_MAX_COMPLEXITY", default_value_t = 5_000)]
    pub max_complexity: usize,

    /// Longest query text accepted, in bytes.
    #[arg(long, env = "ORDERLOG_QUERY_MAX_QUERY_BYTES", default_value_t = 16_384)]
    pub max_query_bytes: usize,

    /// Serve the schema's introspection (GraphiQL needs it); turn off in production if
    /// clients should not explore the schema.
    #[arg(long, env = "ORDERLOG_QUERY_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,

    /// Longest a read-your-writes query waits for the read models to catch up, in ms.
    #[arg(
        long,
        env = "ORDERLOG_QUERY_FRESHNESS_WAIT_MS",
        default_value_t = 5_000
    )]
    pub freshness_wait_ms: u64,

    /// The read cache of `order(id)` with its lines, in bytes (as its entries are weighed);
    /// 0 turns it off (docs/query-api.md, "The read cache").
    #[arg(long, env = "ORDERLOG_QUERY_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub cache_bytes: u64,

    /// `totalCount` counts exactly up to this many rows, then reports the limit.
    #[arg(long, env = "ORDERLOG_QUERY_COUNT_LIMIT", default_value_t = 10_000)]
    pub count_limit: i64,

    /// Directory holding GraphiQL's browser assets (`compose/local/graphiql.sh` fetches
    /// them from the npm registry).
    #[arg(
        long,
        env = "ORDERLOG_GRAPHIQL_ASSETS",
        default_value = ".local/graphiql"
    )]
    pub graphiql_assets: PathBuf,

    /// Most WebSocket connections open at once; past it an upgrade answers 503.
    #[arg(
        long,
        env = "ORDERLOG_QUERY_MAX_WS_CONNECTIONS",
        default_value_t = 1_000
    )]
    pub max_ws_connections: usize,

    /// Most subscriptions one WebSocket connection may hold at once.
    #[arg(
        long,
        env = "ORDERLOG_QUERY_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_subscriptions_per_connection: usize,

    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, env = "ORDERLOG_QUERY_MAX_WS_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_ws_message_bytes: usize,

    /// Who may call: bearer tokens, their keys, and the rate limit per token subject.
    #[command(flatten)]
    pub auth: guard::AuthSettings,

    /// Timeouts, the cap on requests in flight and the shutdown grace of the HTTP server.
    #[command(flatten)]
    pub http: telemetry::server::HttpLimits,

    /// Where spans are exported (OTLP/HTTP); off unless set.
    #[command(flatten)]
    pub traces: telemetry::trace::TraceSettings,

    /// Log format: json for machines, pretty for people.
    #[arg(long, env = "ORDERLOG_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: telemetry::LogFormat,
}

impl Config {
    /// Every default, for tests and embedding.
    pub fn defaults() -> Self {
        Self::parse_from(["query-api"])
    }

    pub fn freshness_wait(&self) -> Duration {
        Duration::from_millis(self.freshness_wait_ms)
    }
}
