//! A private platform per test (its own topics and database) and a way to run `orderlog`.

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
pub(crate) use testkit::{bootstrap, fresh_database};

/// What a run of `orderlog` printed and how it ended.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Runs `orderlog` with `args` and nothing else (no platform settings).
pub(crate) async fn orderlog_bare(args: &[&str]) -> Run {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orderlog"))
        .args(args)
        .output()
        .await
        .expect("orderlog runs")
        .into()
}

pub(crate) struct Platform {
    pub(crate) prefix: String,
    pub(crate) database_url: String,
    pub(crate) pool: PgPool,
    inner: testkit::platform::Platform,
}

impl Platform {
    pub(crate) async fn start() -> Self {
        let inner = testkit::platform::Platform::start(fresh_database().await, 3, None).await;
        let pool = PgPool::connect(&inner.database_url)
            .await
            .expect("database");
        Self {
            prefix: inner.prefix.clone(),
            database_url: inner.database_url.clone(),
            pool,
            inner,
        }
    }

    pub(crate) async fn stop(self) {
        self.inner.stop().await;
    }

    /// Runs `orderlog` against this platform's topics and database.
    pub(crate) async fn orderlog(&self, args: &[&str]) -> Run {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_orderlog"))
            .args(args)
            .env("ORDERLOG_KAFKA_BOOTSTRAP", bootstrap())
            .env("ORDERLOG_TOPIC_PREFIX", &self.prefix)
            .env("ORDERLOG_DATABASE_URL", &self.database_url)
            .output()
            .await
            .expect("orderlog runs")
            .into()
    }

    /// Sends a command; returns the answer's body, asserting it succeeded.
    pub(crate) async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.inner.command(method, path, body).await
    }

    /// Places an order of `lines` (sku, quantity, unit price in EUR cents); returns its id.
    pub(crate) async fn place(&self, customer: &str, lines: &[(&str, i64, i64)]) -> String {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(sku, q, unit)| json!({ "sku": sku, "quantity": q, "unit_price": { "amount_minor": unit, "currency": "EUR" } }))
            .collect();
        let body = json!({
            "customer_id": customer, "currency": "EUR", "lines": lines,
            "shipping_address": { "name": "Ada Lovelace", "line1": "1 Analytical Way", "city": "Berlin", "postal_code": "10115", "country": "DE" }
        });
        let answer = self
            .command(reqwest::Method::POST, "/v1/orders", body)
            .await;
        answer["order_id"].as_str().expect("order id").to_owned()
    }

    pub(crate) async fn add_line(&self, order: &str, sku: &str, quantity: i64, unit: i64) {
        let body = json!({ "sku": sku, "quantity": quantity, "unit_price": { "amount_minor": unit, "currency": "EUR" } });
        self.command(
            reqwest::Method::POST,
            &format!("/v1/orders/{order}/lines"),
            body,
        )
        .await;
    }

    pub(crate) async fn pay(&self, order: &str, amount: i64) {
        let body = json!({ "payment_reference": "psp-1", "amount": { "amount_minor": amount, "currency": "EUR" } });
        self.command(
            reqwest::Method::POST,
            &format!("/v1/orders/{order}/payment"),
            body,
        )
        .await;
    }

    pub(crate) async fn cancel(&self, order: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/v1/orders/{order}/cancellation"),
            json!({ "reason": "changed my mind" }),
        )
        .await;
    }

    /// Waits until every projection has applied every event of the log.
    pub(crate) async fn caught_up(&self, events: i64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let applied: (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM order_timeline), (SELECT coalesce(sum(version), 0)::int8 FROM sales_orders)",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap_or((0, 0));
            let orders: i64 =
                sqlx::query_scalar("SELECT coalesce(sum(version), 0)::int8 FROM orders")
                    .fetch_one(&self.pool)
                    .await
                    .unwrap_or(0);
            if applied == (events, events) && orders == events {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "projections did not catch up: {applied:?}, {orders} of {events}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The JSON Lines of a replay, parsed.
pub(crate) fn lines(run: &Run) -> Vec<Value> {
    assert_eq!(run.code, 0, "orderlog failed: {}", run.stderr);
    run.stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect()
}
