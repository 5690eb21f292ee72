//! Building the projectors from their configuration and running them until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use event_store::{KafkaConfig, TopicSet};
use serde_json::{Value, json};
use sqlx::PgPool;
use telemetry::operations::Readiness;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::db;
use crate::worker::{Worker, WorkerSettings, WorkerStatus};

pub struct Application {
    listener: TcpListener,
    router: Router,
    workers: Vec<Worker>,
    lag: (Arc<AtomicBool>, std::thread::JoinHandle<()>),
    limits: telemetry::server::HttpLimits,
}

#[derive(Clone)]
struct Health {
    pool: PgPool,
    workers: Arc<Vec<(&'static str, Arc<WorkerStatus>)>>,
}

impl Application {
    /// Migrates the database, then starts one worker per projection and the health server.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let pool = db::connect(
            config.database_url.expose(),
            4 + 2 * config.projections.len() as u32,
        )
        .await?;
        db::migrate(&pool).await?;
        let watched = pool.clone();
        telemetry::pool::watch("projectors", move || {
            (!watched.is_closed()).then(|| telemetry::pool::PoolUse {
                open: watched.size(),
                idle: u32::try_from(watched.num_idle()).unwrap_or(u32::MAX),
                max: watched.options().get_max_connections(),
            })
        });
        let kafka = KafkaConfig::new(&config.kafka_bootstrap, &config.topic_prefix)
            .secured(config.kafka_security.clone());
        let topics = TopicSet::new(&config.topic_prefix);
        let settings = WorkerSettings {
            events_topic: topics.events.clone(),
            dead_letter_topic: topics.dead_letter.clone(),
            group_prefix: config.topic_prefix.clone(),
            batch_max: config.batch_max,
            linger: std::time::Duration::from_millis(config.linger_ms),
            on_poison: config.on_poison,
        };
        let runtime = tokio::runtime::Handle::current();
        let mut projections = config.projections.clone();
        projections.dedup();
        let names: Vec<&'static str> = projections.iter().map(|p| p.name()).collect();
        let workers = projections
            .into_iter()
            .map(|p| {
                Worker::spawn(
                    p,
                    kafka.clone(),
                    pool.clone(),
                    runtime.clone(),
                    settings.clone(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stop_lag = Arc::new(AtomicBool::new(false));
        let lag = crate::lag::spawn(
            &kafka,
            names,
            topics.events.clone(),
            pool.clone(),
            runtime.clone(),
            stop_lag.clone(),
        )?;
        let health = Health {
            pool,
            workers: Arc::new(
                workers
                    .iter()
                    .map(|w| (w.projection().name(), w.status.clone()))
                    .collect(),
            ),
        };
        let router = telemetry::operations::router(
            move || readiness(health.clone()),
            telemetry::operations::open(),
        );
        let listener = TcpListener::bind(config.listen).await?;
        tracing::info!(address = %listener.local_addr()?, "projectors started");
        Ok(Self {
            listener,
            router: config.http.apply(router),
            workers,
            lag: (stop_lag, lag),
            limits: config.http.clone(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves health until `shutdown`, then stops every worker after its batch in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        telemetry::server::serve(self.listener, self.router, &self.limits, shutdown).await?;
        for worker in self.workers {
            tokio::task::spawn_blocking(move || worker.stop()).await??;
        }
        let (stop_lag, lag) = self.lag;
        stop_lag.store(true, Ordering::SeqCst);
        let _ = tokio::task::spawn_blocking(move || lag.join()).await;
        tracing::info!("projectors stopped");
        Ok(())
    }
}

/// Ready when PostgreSQL answers and every projection is applying: none stopped, none
/// waiting out an outage. Each projection says why when it is not.
async fn readiness(health: Health) -> Readiness {
    let database = sqlx::query("SELECT 1").execute(&health.pool).await.is_ok();
    let projections: Vec<Value> = health
        .workers
        .iter()
        .map(|(name, status)| {
            json!({
                "name": name,
                "ready": status.is_ready(),
                "failed": status.failed(),
                "failure": status.failure(),
                "waiting": status.waiting(),
                "partitions": status.assigned(),
            })
        })
        .collect();
    let ready = database && projections.iter().all(|p| p["ready"] == true);
    let mut details = serde_json::Map::new();
    details.insert("database".to_owned(), Value::Bool(database));
    details.insert("projections".to_owned(), Value::Array(projections));
    Readiness { ready, details }
}
