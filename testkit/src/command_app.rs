//! command-api started in the test's process, and requests to it that return status,
//! headers and body whatever they are (feature `command-app`).

use std::time::{Duration, Instant};

use command_api::app::Application;
use command_api::config::{Config, Role};
use serde_json::Value;

use crate::bodies::place_body;
use crate::http::{client, ready};
use crate::running::{Running, run};

/// Partitions of a test's topics.
pub const PARTITIONS: i32 = 3;

pub fn test_config(prefix: &str, role: Role) -> Config {
    let mut config = Config::defaults();
    config.role = role;
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.kafka_bootstrap = crate::bootstrap();
    config.topic_prefix = prefix.to_owned();
    config.topic_partitions = PARTITIONS;
    config.result_timeout_ms = 20_000;
    config.auth = crate::auth::settings();
    config
}

/// A running command-api; stops gracefully when dropped.
pub struct TestApp {
    pub base: String,
    pub prefix: String,
    pub client: reqwest::Client,
    running: Running,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(test_config(&crate::topic_prefix(), Role::All)).await
    }

    pub async fn spawn_with(config: Config) -> Self {
        let runs_processor = config.runs_processor();
        let app = Self::start(config).await;
        if runs_processor {
            app.wait_ready().await;
        }
        app
    }

    /// Starts the service without waiting for its processor to be ready.
    pub async fn start(config: Config) -> Self {
        crate::logs::capture();
        let prefix = config.topic_prefix.clone();
        let app = Application::build(config)
            .await
            .expect("application builds");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let running = run(|stopped| {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
        });
        Self {
            base,
            prefix,
            client: client(),
            running,
        }
    }

    /// Waits until `/readyz` answers 200.
    ///
    /// # Panics
    /// When the service stops first, or after 60 s.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(&self.client, &self.base).await {
            assert!(
                !self.running.is_finished(),
                "command-api stopped before it was ready (see its log)"
            );
            assert!(
                Instant::now() < deadline,
                "command-api not ready within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The service ended (on its own: a test stops it with [`Self::stop`]).
    pub fn is_finished(&self) -> bool {
        self.running.is_finished()
    }

    /// Asks the service to shut down and waits for it.
    ///
    /// # Panics
    /// When it did not shut down cleanly.
    pub async fn stop(self) {
        self.running.stop().await;
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        self.send_with(method, path, body, &[]).await
    }

    pub async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.try_send_with(method, path, body, headers)
            .await
            .expect("request sent")
    }

    /// [`Self::send_with`], with a transport error (a keep-alive connection the server
    /// closed as the request left, for example) returned rather than panicking.
    async fn try_send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Ok(Reply::from(request.send().await?).await)
    }

    /// Sends a command with an `Idempotency-Key`.
    pub async fn send_keyed(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: &str,
    ) -> Reply {
        self.send_with(method, path, body, &[("Idempotency-Key", key)])
            .await
    }

    /// Sends a command until it gets a definite answer, retrying 503s with the same key.
    pub async fn until_definite(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: &str,
    ) -> Reply {
        self.until_definite_within(method, path, body, key, Duration::from_secs(90))
            .await
    }

    /// [`Self::until_definite`], giving up (with the last 503) after `patience`.
    pub async fn until_definite_within(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: &str,
        patience: Duration,
    ) -> Reply {
        let deadline = Instant::now() + patience;
        loop {
            // No answer at all is as indefinite as a 503: the same key makes the retry safe.
            let reply = self
                .try_send_with(
                    method.clone(),
                    path,
                    body.clone(),
                    &[("Idempotency-Key", key)],
                )
                .await;
            match reply {
                Ok(reply) if reply.status != 503 || Instant::now() > deadline => return reply,
                Err(error) if Instant::now() > deadline => panic!("no answer: {error}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub async fn place(&self, body: Value) -> Reply {
        self.send(reqwest::Method::POST, "/v1/orders", Some(body))
            .await
    }

    /// Places the default order and returns its id.
    pub async fn place_default(&self) -> String {
        let reply = self.place(place_body()).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["order_id"]
            .as_str()
            .expect("order id")
            .to_owned()
    }

    pub fn events_topic(&self) -> String {
        event_store::TopicSet::new(&self.prefix).events
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}
