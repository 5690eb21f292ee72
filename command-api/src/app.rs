//! Building the application from its configuration and running it until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use event_store::{KafkaConfig, TopicSet, TopicSpec};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::intake::{BusSettings, CommandBus};
use crate::processor::{Owners, Processor, ProcessorSettings, ProcessorStatus};

/// A built command-api: listening, processors started, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    processor: Option<Processor>,
    limits: telemetry::server::HttpLimits,
}

impl Application {
    /// Ensures the topics, starts the roles the config asks for, and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // First: a service nobody could call (or anyone could) is not started at all.
        let guard = guard::Guard::new(&config.auth)?;
        let kafka = KafkaConfig::new(&config.kafka_bootstrap, &config.topic_prefix)
            .secured(config.kafka_security.clone());
        let topics = TopicSet::new(&config.topic_prefix);
        let spec = TopicSpec {
            partitions: config.topic_partitions,
            replication: config.topic_replication,
        };
        let partitions = topics.ensure(&kafka, spec).await?;

        // One process running both roles: its processors answer its waiting requests.
        let answers = crate::answers::Answers::default();
        let both_roles = config.runs_http() && config.runs_processor();
        let in_process = config.results_in_process && both_roles;
        // And the HTTP tier hands commands to the lanes serving their partitions here.
        let owners = (config.direct_commands && both_roles).then(Owners::default);
        let (processor, status) = if config.runs_processor() {
            let status = ProcessorStatus::default();
            let settings = ProcessorSettings {
                group_id: format!("{}{}", config.topic_prefix, config.processor_group),
                batch_max: config.processor_batch_max,
                transaction_interval: std::time::Duration::from_millis(
                    config.processor_transaction_interval_ms,
                ),
                session_timeout: std::time::Duration::from_millis(
                    config.processor_session_timeout_ms,
                ),
                partitions: config.topic_partitions,
                answers: in_process.then(|| answers.clone()),
                owners: owners.clone(),
                policy: config.policy(),
            };
            let processor =
                Processor::spawn(kafka.clone(), topics.clone(), settings, status.clone())?;
            (Some(processor), Some(status))
        } else {
            (None, None)
        };
        let bus = if config.runs_http() {
            let (kafka, topics) = (kafka.clone(), topics.clone());
            let settings = BusSettings {
                partitions,
                timeout: config.result_timeout(),
                produce_timeout: std::time::Duration::from_millis(
                    config.produce_timeout_ms.min(config.result_timeout_ms),
                ),
                max_in_flight: config.max_commands_in_flight,
                owners,
            };
            Some(
                tokio::task::spawn_blocking(move || {
                    CommandBus::start(answers, &kafka, &topics, settings)
                })
                .await??,
            )
        } else {
            None
        };
        let state = AppState {
            bus,
            processor: status,
            max_body_bytes: config.max_body_bytes,
            openapi: Arc::new(http::openapi::document()),
            query_api_url: config.query_api_url.clone(),
            guard,
        };
        let listener = TcpListener::bind(config.listen).await?;
        tracing::info!(address = %listener.local_addr()?, role = ?config.role, partitions, "command-api started");
        Ok(Self {
            listener,
            router: config.http.apply(http::router(state)),
            processor,
            limits: config.http.clone(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains requests and stops the processors
    /// after their batch in flight is committed.
    /// A processor that ends on its own (an error it cannot retry) stops the whole process,
    /// with its error, so that a supervisor restarts it rather than leaving it unready.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let processor_exited = self.processor.as_ref().map(Processor::exited);
        let stopping = async move {
            match processor_exited {
                Some(exited) => tokio::select! { () = shutdown => {}, () = exited => {} },
                None => shutdown.await,
            }
        };
        telemetry::server::serve(self.listener, self.router, &self.limits, stopping).await?;
        if let Some(processor) = self.processor {
            tokio::task::spawn_blocking(move || processor.stop()).await??;
        }
        tracing::info!("command-api stopped");
        Ok(())
    }
}
