//! One request of the load (GraphQL or the same SQL) and one write to a hot order.

use std::sync::Arc;

use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use super::{Query, Shape, Target};

const ORDER_QUERY: &str = "query($id: ID!) { order(id: $id) { id status version customerId placedAt \
     total { minorUnits currency } lines { position sku quantity lineTotal { minorUnits } } } }";
const PAGE_QUERY: &str = "{ orders(first: 20, filter: { status: [PLACED] }) { edges { cursor node { id status \
     placedAt total { minorUnits currency } } } pageInfo { hasNextPage endCursor } } }";

/// What query-api runs for `order(id)` with lines (one statement), and for the page (20
/// rows + 1 to know whether there is a next page).
const ORDER_SQL: &str = "SELECT order_id, customer_id, currency, status, total_minor, line_count, shipping_address, \
     payment_reference, paid_minor, carrier, tracking_number, cancel_reason, refund_due_minor, placed_at, paid_at, \
     shipped_at, delivered_at, cancelled_at, version, last_event_at, payment_due_at, ship_by, overdue, coalesce(( \
     SELECT json_agg(json_build_object('position', l.position, 'sku', l.sku, 'quantity', l.quantity, \
     'unit', l.unit_price_minor, 'total', l.line_total_minor) ORDER BY l.position) \
     FROM order_lines l WHERE l.order_id = o.order_id), '[]') AS lines FROM orders o WHERE o.order_id = $1";
const PAGE_SQL: &str = "SELECT order_id, customer_id, currency, status, total_minor, line_count, shipping_address, \
     payment_reference, paid_minor, carrier, tracking_number, cancel_reason, refund_due_minor, placed_at, paid_at, \
     shipped_at, delivered_at, cancelled_at, version, last_event_at, payment_due_at, ship_by, overdue FROM orders WHERE true AND status = $1 \
     ORDER BY placed_at DESC, order_id DESC LIMIT $2";

pub(super) struct Runner {
    shape: Shape,
    target: Target,
    url: String,
    http: reqwest::Client,
    /// One `Authorization` per caller: request `n` is caller `n % callers.len()`'s.
    callers: Vec<reqwest::header::HeaderValue>,
    pool: PgPool,
    pub(super) ids: Vec<Uuid>,
    hot_share: Option<f64>,
}

impl Runner {
    /// The order request `n` reads: spread evenly, or `hot_share` of them over the first
    /// fifth (a multiplicative hash of `n` decides, so every client mixes alike).
    fn pick(&self, n: usize) -> usize {
        let len = self.ids.len();
        let Some(share) = self.hot_share else {
            return n % len;
        };
        let hot = (len / 5).max(1);
        let spread = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let roll = (spread >> 11) as f64 / (1u64 << 53) as f64;
        let index = (spread >> 7) as usize;
        if roll < share {
            index % hot
        } else {
            hot + index % (len - hot).max(1)
        }
    }

    /// Request `n`; for `order(id)` through GraphQL, which order it read at which version.
    pub(super) async fn one(&self, n: usize) -> anyhow::Result<Option<(usize, i64)>> {
        self.read(self.pick(n), n).await
    }

    /// A read of the order at `index` (request `n`, for its caller's token).
    pub(super) async fn read(
        &self,
        index: usize,
        n: usize,
    ) -> anyhow::Result<Option<(usize, i64)>> {
        let id = self.ids[index];
        match (self.target, self.shape) {
            (Target::Graphql, shape) => {
                let body = match shape {
                    Shape::Order => json!({ "query": ORDER_QUERY, "variables": { "id": id } }),
                    Shape::Page => json!({ "query": PAGE_QUERY }),
                };
                let response: Value = self
                    .http
                    .post(format!("{}/graphql", self.url))
                    .header(
                        reqwest::header::AUTHORIZATION,
                        &self.callers[n % self.callers.len()],
                    )
                    .json(&body)
                    .send()
                    .await?
                    .json()
                    .await?;
                anyhow::ensure!(response.get("errors").is_none(), "{response}");
                let found = match shape {
                    Shape::Order => !response["data"]["order"].is_null(),
                    Shape::Page => response["data"]["orders"]["edges"]
                        .as_array()
                        .is_some_and(|e| !e.is_empty()),
                };
                anyhow::ensure!(found, "empty answer: {response}");
                if shape == Shape::Order {
                    let version = &response["data"]["order"]["version"];
                    let version = version
                        .as_i64()
                        .or_else(|| version.as_str()?.parse().ok())
                        .ok_or_else(|| anyhow::anyhow!("no version: {response}"))?;
                    return Ok(Some((index, version)));
                }
            }
            (Target::Sql, Shape::Order) => {
                let order = sqlx::query(ORDER_SQL)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                let lines: Option<serde_json::Value> =
                    order.map(|row| sqlx::Row::get(&row, "lines"));
                let found = lines.is_some_and(|l| l.as_array().is_some_and(|a| !a.is_empty()));
                anyhow::ensure!(found, "order {id} not found");
            }
            (Target::Sql, Shape::Page) => {
                let rows = sqlx::query(PAGE_SQL)
                    .bind("placed")
                    .bind(21_i64)
                    .fetch_all(&self.pool)
                    .await?;
                anyhow::ensure!(!rows.is_empty(), "no placed orders");
            }
        }
        Ok(None)
    }

    /// A command changing a hot order (its shipping address, to one of two cities).
    pub(super) async fn write(
        &self,
        commands: &reqwest::Client,
        url: &str,
        n: usize,
    ) -> anyhow::Result<()> {
        let hot = (self.ids.len() / 5).max(1);
        let spread = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7;
        let id = self.ids[usize::try_from(spread).unwrap_or(0) % hot];
        let city = if n.is_multiple_of(2) {
            "Berlin"
        } else {
            "Hamburg"
        };
        let response = commands
            .put(format!("{url}/v1/orders/{id}/shipping-address"))
            .json(&json!({ "shipping_address": testkit::bodies::address(city) }))
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "{status}: {}", response.text().await?);
        Ok(())
    }
}

pub(super) async fn runner(args: &Query) -> anyhow::Result<Arc<Runner>> {
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(args.clients)?.max(1))
        .connect(&args.postgres.url)
        .await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT order_id FROM orders WHERE line_count > 0 ORDER BY order_id LIMIT $1",
    )
    .bind(args.orders)
    .fetch_all(&pool)
    .await?;
    anyhow::ensure!(
        !ids.is_empty(),
        "the orders read model is empty: run `bench throughput` first"
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients.max(64))
        .build()?;
    let callers = match args.target {
        Target::Graphql => args.token.callers(args.clients)?,
        Target::Sql => Vec::new(),
    };
    Ok(Arc::new(Runner {
        shape: args.shape,
        target: args.target,
        url: args.url.clone(),
        http,
        callers,
        pool,
        ids,
        hot_share: args.hot_share,
    }))
}
