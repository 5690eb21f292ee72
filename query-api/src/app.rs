//! Building the query-api from its configuration and running it until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::answer_cache::AnswerCache;
use crate::changes::ChangeFeed;
use crate::config::Config;
use crate::freshness::Freshness;
use crate::graphiql::Assets;
use crate::http::{self, AppState};
use crate::operation_metrics::OperationNames;
use crate::order_cache::OrderCache;
use crate::persisted::PersistedQueries;
use crate::replica::ReplicaGate;
use crate::schema::{self, Limits};
use crate::ws::{WsLimits, WsState};

/// How many bytes of persisted query texts are kept (thousands of distinct queries).
const PERSISTED_QUERY_BYTES: u64 = 16 * 1024 * 1024;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    limits: telemetry::server::HttpLimits,
}

impl Application {
    /// Opens the read pool, starts listening for changes, builds the schema and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // First: a service nobody could call (or anyone could) is not started at all.
        let guard = guard::Guard::new(&config.auth)?;
        // The recorder before anything registers a metric, or the metric goes nowhere.
        telemetry::metrics_handle();
        let pool =
            crate::db::connect_read_only(config.database_url.expose(), config.pool_size).await?;
        let watched = pool.clone();
        telemetry::pool::watch("read", move || {
            (!watched.is_closed()).then(|| telemetry::pool::PoolUse {
                open: watched.size(),
                idle: u32::try_from(watched.num_idle()).unwrap_or(u32::MAX),
                max: watched.options().get_max_connections(),
            })
        });
        // A LISTEN URL of its own means the read pool may be a replica: signals then wait
        // for it to replay them.
        let gate = config
            .notify_database_url
            .is_some()
            .then(|| ReplicaGate::new(pool.clone()));
        let feed = ChangeFeed::start(
            config
                .notify_database_url
                .clone()
                .unwrap_or_else(|| config.database_url.clone())
                .expose()
                .to_owned(),
            gate,
        );
        let freshness = Freshness {
            pool: pool.clone(),
            feed: feed.clone(),
            max_wait: config.freshness_wait(),
        };
        let limits = Limits {
            max_page_size: config.max_page_size,
            max_depth: config.max_depth,
            max_complexity: config.max_complexity,
            max_query_bytes: config.max_query_bytes,
            count_limit: config.count_limit,
            introspection: config.introspection,
        };
        // The bound is shared: half for orders, half for whole answers made of them.
        let cache = OrderCache::new(config.cache_bytes / 2);
        cache.follow(feed.subscribe());
        let persisted = PersistedQueries::new(PERSISTED_QUERY_BYTES);
        let answers = AnswerCache::new(config.cache_bytes / 2, cache.clone(), persisted.clone());
        let names = Arc::new(OperationNames::default());
        let shared = schema::Shared {
            cache,
            persisted,
            names: names.clone(),
        };
        let schema = schema::build(pool.clone(), feed.clone(), freshness, shared, limits);
        let assets = Assets::new(&config.graphiql_assets).with_dev_token(config.auth.dev_token());
        if !assets.installed() {
            tracing::warn!(dir = %assets.dir().display(), "GraphiQL assets not installed; / explains how to get them");
        }
        let ws = WsState::new(
            schema.clone(),
            guard.clone(),
            WsLimits {
                max_connections: config.max_ws_connections,
                max_subscriptions: config.max_subscriptions_per_connection,
                max_message_bytes: config.max_ws_message_bytes,
            },
        );
        let state = AppState {
            schema,
            pool,
            feed,
            guard,
            answers,
            names,
        };
        // The body holds the query and its variables: allow the query limit and some room.
        let router = http::router(
            state,
            ws,
            assets,
            config.max_query_bytes.saturating_mul(4).max(64 * 1024),
        );
        let listener = TcpListener::bind(config.listen).await?;
        tracing::info!(address = %listener.local_addr()?, "query-api started");
        Ok(Self {
            listener,
            router: config.http.apply(router),
            limits: config.http.clone(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        telemetry::server::serve(self.listener, self.router, &self.limits, shutdown).await?;
        tracing::info!("query-api stopped");
        Ok(())
    }
}
