//! The platform started in this process for integration tests: command-api, projectors and,
//! when asked, query-api, on topics and a database of the test's own. Behind the `services`
//! feature (it needs the service crates); each service's own tests use the pieces they need.

use crate::http::{client, wait_ready};
pub use crate::running::{Running, run};

/// Every environment variable each service binary reads, by binary name, from its
/// configuration's own definition (for tests that check deployment files against them).
pub fn service_settings() -> Vec<(&'static str, Vec<String>)> {
    use clap::CommandFactory;
    let envs = |command: clap::Command| -> Vec<String> {
        command
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect()
    };
    vec![
        ("command-api", envs(command_api::config::Config::command())),
        ("projectors", envs(projectors::config::Config::command())),
        ("query-api", envs(query_api::config::Config::command())),
    ]
}

/// command-api with both roles on a random port, on the shared Kafka with `prefix`.
pub fn command_api_config(prefix: &str, partitions: i32) -> command_api::config::Config {
    let mut config = command_api::config::Config::defaults();
    config.role = command_api::config::Role::All;
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.kafka_bootstrap = crate::bootstrap();
    config.topic_prefix = prefix.to_owned();
    config.topic_partitions = partitions;
    config.auth = crate::auth::settings();
    config
}

/// Projectors on a random port, on the shared Kafka with `prefix` and on `database_url`.
pub fn projectors_config(prefix: &str, database_url: &str) -> projectors::config::Config {
    let mut config = projectors::config::Config::defaults();
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.kafka_bootstrap = crate::bootstrap();
    config.topic_prefix = prefix.to_owned();
    config.database_url = database_url.into();
    config.batch_max = 500;
    config.linger_ms = 5;
    config
}

/// query-api on a random port, reading `database_url`.
pub fn query_api_config(database_url: &str) -> query_api::config::Config {
    let mut config = query_api::config::Config::defaults();
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.database_url = database_url.into();
    config.auth = crate::auth::settings();
    config
}

/// Starts command-api; returns its base URL.
pub async fn start_command_api(config: command_api::config::Config) -> (String, Running) {
    let app = command_api::app::Application::build(config)
        .await
        .expect("command-api builds");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    (
        base,
        run(|stopped| {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
        }),
    )
}

/// Starts the projectors; returns the base URL of their health server.
pub async fn start_projectors(config: projectors::config::Config) -> (String, Running) {
    let app = projectors::app::Application::build(config)
        .await
        .expect("projectors build");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    (
        base,
        run(|stopped| {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
        }),
    )
}

/// Starts query-api; returns its base URL.
pub async fn start_query_api(config: query_api::config::Config) -> (String, Running) {
    let app = query_api::app::Application::build(config)
        .await
        .expect("query-api builds");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    (
        base,
        run(|stopped| {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
        }),
    )
}

/// The write and read paths of one test: command-api and projectors, and query-api when
/// asked, each ready.
pub struct Platform {
    pub prefix: String,
    pub database_url: String,
    pub commands: String,
    /// The projectors' health and metrics server.
    pub projectors: String,
    /// query-api's base URL, when it runs.
    pub query: Option<String>,
    pub http: reqwest::Client,
    services: Vec<Running>,
}

impl Platform {
    /// Starts command-api and the projectors on fresh topics and on `database_url`; with
    /// `query`, query-api too, its configuration adjusted by `query`. A placed order's
    /// `Location` points at that query-api.
    pub async fn start(
        database_url: String,
        partitions: i32,
        query: Option<Box<dyn FnOnce(&mut query_api::config::Config)>>,
    ) -> Self {
        let prefix = crate::topic_prefix();
        let http = client();
        let mut services = Vec::new();
        let query = match query {
            Some(tune) => {
                let mut config = query_api_config(&database_url);
                tune(&mut config);
                let (base, running) = start_query_api(config).await;
                services.push(running);
                Some(base)
            }
            None => None,
        };
        let (projectors_base, projectors) =
            start_projectors(projectors_config(&prefix, &database_url)).await;
        services.push(projectors);
        let mut config = command_api_config(&prefix, partitions);
        if let Some(query) = &query {
            config.query_api_url = query.clone();
        }
        let (commands, command_api) = start_command_api(config).await;
        services.push(command_api);
        wait_ready(&http, &commands).await;
        if let Some(query) = &query {
            wait_ready(&http, query).await;
        }
        Self {
            prefix,
            database_url,
            commands,
            projectors: projectors_base,
            query,
            http,
            services,
        }
    }

    /// Sends a command to command-api; the answer's body.
    ///
    /// # Panics
    /// When the command is not sent, or its answer is not a success with a JSON body.
    pub async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.commands))
            .json(&body)
            .send()
            .await
            .expect("command sent");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("json answer");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Stops every service, the readers first.
    pub async fn stop(mut self) {
        for service in self.services.drain(..) {
            service.stop().await;
        }
    }
}
