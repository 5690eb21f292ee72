//! Building the projectors from their configuration and running them until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use event_store::{KafkaConfig, TopicSet};
use serde_json::{Value, json};
use sqlx::PgPool;
use telemetry::operations::Readiness;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::startup::{self, Startup};
use crate::worker::{Worker, WorkerSettings, WorkerStatus};

pub struct Application {
    address: SocketAddr,
    /// The health server, serving since `build` began; stopped through `stop_server`.
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop_server: oneshot::Sender<()>,
    workers: Vec<Worker>,
    lag: Lag,
}

/// The lag observer's thread and its stop flag.
type Lag = (Arc<AtomicBool>, std::thread::JoinHandle<()>);

/// What `/readyz` reads: start-up's progress, then the running projections.
#[derive(Clone, Default)]
struct Shared {
    startup: Arc<Startup>,
    health: Arc<OnceLock<Health>>,
}

#[derive(Clone)]
struct Health {
    pool: PgPool,
    workers: Arc<Vec<(&'static str, Arc<WorkerStatus>)>>,
}

impl Application {
    /// Starts the health server, waits for PostgreSQL (saying so in `/readyz`) and
    /// migrates it, then starts one worker per projection.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let address = listener.local_addr()?;
        let shared = Shared::default();
        let router = config.http.apply(telemetry::operations::router(
            {
                let shared = shared.clone();
                move || readiness(shared.clone())
            },
            telemetry::operations::open(),
        ));
        let (stop_server, stopped) = oneshot::channel::<()>();
        let limits = config.http.clone();
        let server = tokio::spawn(async move {
            telemetry::server::serve(listener, router, &limits, async {
                let _ = stopped.await;
            })
            .await
        });
        tracing::info!(%address, "projectors serving health; starting");
        match Self::start(config, &shared).await {
            Ok((workers, lag)) => {
                tracing::info!(%address, "projectors started");
                Ok(Self {
                    address,
                    server,
                    stop_server,
                    workers,
                    lag,
                })
            }
            Err(error) => {
                let _ = stop_server.send(());
                Err(error)
            }
        }
    }

    /// Waits for the database, then starts the workers and the lag observer.
    async fn start(config: Config, shared: &Shared) -> anyhow::Result<(Vec<Worker>, Lag)> {
        let pool = startup::connect(
            config.database_url.expose(),
            4 + 2 * config.projections.len() as u32,
            &shared.startup,
        )
        .await?;
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
        let _ = shared.health.set(Health {
            pool,
            workers: Arc::new(
                workers
                    .iter()
                    .map(|w| (w.projection().name(), w.status.clone()))
                    .collect(),
            ),
        });
        Ok((workers, (stop_lag, lag)))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.address)
    }

    /// Serves health until `shutdown`, then stops every worker after its batch in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        shutdown.await;
        let _ = self.stop_server.send(());
        self.server.await??;
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
/// waiting out an outage. Each projection says why when it is not; before they run,
/// `starting` says what start-up waits for.
async fn readiness(shared: Shared) -> Readiness {
    let Some(health) = shared.health.get().cloned() else {
        let mut details = serde_json::Map::new();
        details.insert("database".to_owned(), Value::Bool(false));
        details.insert(
            "starting".to_owned(),
            shared
                .startup
                .waiting()
                .unwrap_or_else(|| json!({ "for": "start-up" })),
        );
        return Readiness {
            ready: false,
            details,
        };
    };
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
