//! A whole private platform per test: its own topics and database, command-api and
//! projectors writing the read models for real, and query-api reading them.

use std::time::Duration;

use command_api::config::Role;
use serde_json::{Value, json};
use testkit::{bootstrap, fresh_database};
use tokio::sync::oneshot;

pub(crate) const PARTITIONS: i32 = 3;

/// Where `make test` installs GraphiQL's assets.
pub(crate) fn graphiql_assets() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/graphiql")
}

/// A service running in this process until stopped.
struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .expect("join")
            .expect("clean shutdown");
    }
}

fn run<F>(serve: impl FnOnce(oneshot::Receiver<()>) -> F) -> Running
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    Running {
        stop: Some(stop),
        task: tokio::spawn(serve(stopped)),
    }
}

pub(crate) struct Platform {
    pub(crate) commands: String,
    pub(crate) query: String,
    pub(crate) http: reqwest::Client,
    services: Vec<Running>,
}

impl Platform {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts everything; `tune` adjusts the query-api's configuration.
    pub(crate) async fn start_with(tune: impl FnOnce(&mut query_api::config::Config)) -> Self {
        Self::start_on(fresh_database().await, tune).await
    }

    /// Starts everything on the database at `database_url` (a private server's).
    pub(crate) async fn start_on(
        database_url: String,
        tune: impl FnOnce(&mut query_api::config::Config),
    ) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let prefix = testkit::topic_prefix();

        let mut config = query_api::config::Config::defaults();
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.database_url = database_url.clone();
        config.graphiql_assets = graphiql_assets();
        config.freshness_wait_ms = 20_000;
        tune(&mut config);
        let app = query_api::app::Application::build(config)
            .await
            .expect("query-api builds");
        let query = format!("http://{}", app.local_addr().expect("addr"));
        let query_api = run(|stopped| {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
        });

        let mut config = command_api::config::Config::defaults();
        config.role = Role::All;
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.kafka_bootstrap = bootstrap();
        config.topic_prefix = prefix.clone();
        config.topic_partitions = PARTITIONS;
        config.query_api_url = query.clone();
        let app = command_api::app::Application::build(config)
            .await
            .expect("command-api builds");
        let commands = format!("http://{}", app.local_addr().expect("addr"));
        let command_api = run(|stopped| {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
        });

        let mut config = projectors::config::Config::defaults();
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.kafka_bootstrap = bootstrap();
        config.topic_prefix = prefix.clone();
        config.database_url = database_url.clone();
        config.batch_max = 500;
        config.linger_ms = 5;
        let app = projectors::app::Application::build(config)
            .await
            .expect("projectors build");
        let projectors = run(|stopped| {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
        });

        let platform = Self {
            commands,
            query,
            http: reqwest::Client::new(),
            services: vec![query_api, projectors, command_api],
        };
        platform.wait_ready(&platform.commands).await;
        platform.wait_ready(&platform.query).await;
        platform
    }

    async fn wait_ready(&self, base: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .http
                .get(format!("{base}/readyz"))
                .send()
                .await
                .map(|r| r.status().is_success());
            if ready.unwrap_or(false) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{base} not ready within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn stop(mut self) {
        for service in self.services.drain(..) {
            service.stop().await;
        }
    }

    /// Sends a command; returns the answer's body, asserting it succeeded.
    pub(crate) async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}{path}", self.commands))
            .json(&body)
            .send()
            .await
            .expect("command sent");
        let status = response.status();
        let body: Value = response.json().await.expect("json answer");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Places the default order; returns the answer's `Location` header.
    pub(crate) async fn place_for_location(&self) -> String {
        let body = json!({
            "customer_id": "located",
            "currency": "EUR",
            "lines": [{ "sku": "LOC-1", "quantity": 1, "unit_price": { "amount_minor": 100, "currency": "EUR" } }],
            "shipping_address": { "name": "Ada Lovelace", "line1": "1 Analytical Way", "city": "Berlin", "postal_code": "10115", "country": "DE" }
        });
        let response = self
            .http
            .post(format!("{}/v1/orders", self.commands))
            .json(&body)
            .send()
            .await
            .expect("command sent");
        assert_eq!(response.status(), 201);
        response.headers()["location"]
            .to_str()
            .expect("ascii")
            .to_owned()
    }

    /// GETs `url` and returns its JSON body.
    pub(crate) async fn get_json(&self, url: &str) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json")
    }

    /// Places an order; returns the command answer.
    pub(crate) async fn place(
        &self,
        customer: &str,
        currency: &str,
        lines: &[(&str, i64, i64)],
    ) -> Value {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, quantity, unit)| {
                json!({ "sku": sku, "quantity": quantity, "unit_price": { "amount_minor": unit, "currency": currency } })
            })
            .collect();
        let body = json!({
            "customer_id": customer,
            "currency": currency,
            "lines": lines,
            "shipping_address": { "name": "Ada Lovelace", "line1": "1 Analytical Way", "city": "Berlin", "postal_code": "10115", "country": "DE" }
        });
        self.command(reqwest::Method::POST, "/v1/orders", body)
            .await
    }

    pub(crate) async fn pay(&self, order_id: &str, amount: i64, currency: &str) -> Value {
        let body = json!({ "payment_reference": "psp-1", "amount": { "amount_minor": amount, "currency": currency } });
        self.command(
            reqwest::Method::POST,
            &format!("/v1/orders/{order_id}/payment"),
            body,
        )
        .await
    }

    /// Runs a GraphQL request; returns the whole response body.
    pub(crate) async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/graphql", self.query))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("graphql sent");
        response.json().await.expect("graphql answers json")
    }

    /// Runs a query that must succeed; returns its `data`.
    pub(crate) async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    /// Waits until every read model holds the order of `token` at its version.
    pub(crate) async fn caught_up(&self, token: &str, customer: &str) {
        let (id, _) = token.split_once('@').expect("token");
        self.data(
            "query($id: ID!, $t: String!, $c: String!) {
               order(id: $id, consistencyToken: $t) { history { version } }
               customer(id: $c, consistencyToken: $t) { id }
             }",
            json!({ "id": id, "t": token, "c": customer }),
        )
        .await;
    }
}

/// The first error's `extensions.code` of a GraphQL response.
pub(crate) fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}
