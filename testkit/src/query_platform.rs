//! The whole platform for query-api's tests: its own topics and database, command-api and
//! projectors writing the read models for real, query-api reading them, and the requests
//! those tests send (feature `services`).

use serde_json::{Value, json};

use crate::fresh_database;
use crate::platform::Platform;

/// Partitions of the platform's topics.
pub const PARTITIONS: i32 = 3;

/// Where `make test` installs GraphiQL's assets.
pub fn graphiql_assets() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/graphiql")
}

pub struct QueryPlatform {
    pub commands: String,
    pub projectors: String,
    pub query: String,
    pub http: reqwest::Client,
    inner: Platform,
}

impl QueryPlatform {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts everything; `tune` adjusts the query-api's configuration.
    pub async fn start_with(tune: impl FnOnce(&mut query_api::config::Config) + 'static) -> Self {
        Self::start_on(fresh_database().await, tune).await
    }

    /// Starts everything on the database at `database_url` (a private server's).
    pub async fn start_on(
        database_url: String,
        tune: impl FnOnce(&mut query_api::config::Config) + 'static,
    ) -> Self {
        crate::logs::capture();
        let inner = Platform::start(
            database_url,
            PARTITIONS,
            Some(Box::new(|config: &mut query_api::config::Config| {
                config.graphiql_assets = graphiql_assets();
                config.freshness_wait_ms = 20_000;
                tune(config);
            })),
        )
        .await;
        Self {
            commands: inner.commands.clone(),
            projectors: inner.projectors.clone(),
            query: inner.query.clone().expect("query-api runs"),
            http: inner.http.clone(),
            inner,
        }
    }

    pub async fn stop(self) {
        self.inner.stop().await;
    }

    /// Sends a command; returns the answer's body, asserting it succeeded.
    pub async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.inner.command(method, path, body).await
    }

    /// Places the default order; returns the answer's `Location` header.
    pub async fn place_for_location(&self) -> String {
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

    /// query-api's `/metrics` page.
    pub async fn metrics_page(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.query))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// GETs `url` and returns its JSON body.
    pub async fn get_json(&self, url: &str) -> Value {
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
    pub async fn place(&self, customer: &str, currency: &str, lines: &[(&str, i64, i64)]) -> Value {
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

    pub async fn pay(&self, order_id: &str, amount: i64, currency: &str) -> Value {
        let body = json!({ "payment_reference": "psp-1", "amount": { "amount_minor": amount, "currency": currency } });
        self.command(
            reqwest::Method::POST,
            &format!("/v1/orders/{order_id}/payment"),
            body,
        )
        .await
    }

    /// Runs a GraphQL request; returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
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
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    /// Waits until every read model holds the order of `token` at its version.
    pub async fn caught_up(&self, token: &str, customer: &str) {
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
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}
