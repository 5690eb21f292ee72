//! GraphQL read load against a running query-api, and beside it the ceiling: the same SQL
//! the service runs, sent straight to PostgreSQL over a pool of the same size.
//!
//! Two shapes: `order` (one order with its lines, one statement) and
//! `page` (the first 20 placed orders, newest first: one keyset query).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::stats::{Summary, summarize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Shape {
    /// `order(id)` with its lines.
    Order,
    /// A first page of `orders` filtered by status.
    Page,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// POST /graphql on query-api.
    Graphql,
    /// The same SQL straight to PostgreSQL (the ceiling).
    Sql,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Query {
    #[arg(long, value_enum, default_value = "order")]
    shape: Shape,
    #[arg(long, value_enum, default_value = "graphql")]
    target: Target,
    /// Base URL of query-api.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    url: String,
    #[command(flatten)]
    token: testkit::harness::auth::TokenArgs,
    #[command(flatten)]
    postgres: testkit::harness::stack::Postgres,
    /// Concurrent clients (closed loop), and the SQL pool's size for `--target sql`.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// A fixed rate instead (open loop), in requests/s, for latency at a known load.
    #[arg(long)]
    rate: Option<u64>,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Orders read (with lines, at random from the read model).
    #[arg(long, default_value_t = 10_000)]
    orders: i64,
    /// The share of reads that go to the hot fifth of the orders (0.8: the 80/20 mix);
    /// unset, every order is read as often.
    #[arg(long)]
    hot_share: Option<f64>,
}

const ORDER_QUERY: &str = "query($id: ID!) { order(id: $id) { id status version customerId placedAt \
     total { minorUnits currency } lines { position sku quantity lineTotal { minorUnits } } } }";
const PAGE_QUERY: &str = "{ orders(first: 20, filter: { status: [PLACED] }) { edges { cursor node { id status \
     placedAt total { minorUnits currency } } } pageInfo { hasNextPage endCursor } } }";

/// What query-api runs for `order(id)` with lines (one statement), and for the page (20
/// rows + 1 to know whether there is a next page).
const ORDER_SQL: &str = "SELECT order_id, customer_id, currency, status, total_minor, line_count, shipping_address, \
     payment_reference, paid_minor, carrier, tracking_number, cancel_reason, refund_due_minor, placed_at, paid_at, \
     shipped_at, delivered_at, cancelled_at, version, last_event_at, coalesce(( \
     SELECT json_agg(json_build_object('position', l.position, 'sku', l.sku, 'quantity', l.quantity, \
     'unit', l.unit_price_minor, 'total', l.line_total_minor) ORDER BY l.position) \
     FROM order_lines l WHERE l.order_id = o.order_id), '[]') AS lines FROM orders o WHERE o.order_id = $1";
const PAGE_SQL: &str = "SELECT order_id, customer_id, currency, status, total_minor, line_count, shipping_address, \
     payment_reference, paid_minor, carrier, tracking_number, cancel_reason, refund_due_minor, placed_at, paid_at, \
     shipped_at, delivered_at, cancelled_at, version, last_event_at FROM orders WHERE true AND status = $1 \
     ORDER BY placed_at DESC, order_id DESC LIMIT $2";

struct Runner {
    shape: Shape,
    target: Target,
    url: String,
    http: reqwest::Client,
    /// One `Authorization` per caller: request `n` is caller `n % callers.len()`'s.
    callers: Vec<reqwest::header::HeaderValue>,
    pool: PgPool,
    ids: Vec<Uuid>,
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

    async fn one(&self, n: usize) -> anyhow::Result<()> {
        let id = self.ids[self.pick(n)];
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
        Ok(())
    }
}

impl Query {
    /// A closed-loop run of `shape` against `target`, as `bench all` takes it.
    pub(crate) fn closed(
        shape: Shape,
        target: Target,
        url: &str,
        token: testkit::harness::auth::TokenArgs,
        postgres: testkit::harness::stack::Postgres,
        clients: usize,
        seconds: u64,
    ) -> Self {
        Self {
            shape,
            target,
            url: url.to_owned(),
            token,
            postgres,
            clients,
            rate: None,
            seconds,
            orders: 10_000,
            hot_share: None,
        }
    }
}

/// Requests/s of a closed-loop run (`rate` unset), and its latency.
pub(crate) async fn requests_per_second(args: &Query) -> anyhow::Result<(f64, Summary)> {
    let runner = runner(args).await?;
    for n in 0..200 {
        runner.one(n).await?;
    }
    let (done, failed, elapsed, summary) = closed_loop(&runner, args.clients, args.seconds).await?;
    anyhow::ensure!(failed == 0, "{failed} requests failed");
    Ok((done as f64 / elapsed, summary))
}

async fn runner(args: &Query) -> anyhow::Result<Arc<Runner>> {
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

pub(crate) async fn run(args: Query) -> anyhow::Result<()> {
    let runner = runner(&args).await?;
    // Warm the pools and caches.
    for n in 0..200 {
        runner.one(n).await?;
    }
    let label = format!("{:?} via {:?}", args.shape, args.target).to_lowercase();
    match args.rate {
        None => {
            let (done, failed, elapsed, summary) =
                closed_loop(&runner, args.clients, args.seconds).await?;
            println!(
                "{label}: {done} requests in {elapsed:.1} s = {:.0} requests/s with {} clients ({failed} failed); latency {summary}",
                done as f64 / elapsed,
                args.clients
            );
        }
        Some(rate) => {
            let (failed, summary) = open_loop(&runner, rate, args.seconds).await?;
            println!(
                "{label} at a fixed {rate} requests/s for {} s ({failed} failed): {summary}",
                args.seconds
            );
        }
    }
    Ok(())
}

async fn closed_loop(
    runner: &Arc<Runner>,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(usize, usize, f64, Summary)> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let runner = runner.clone();
            tokio::spawn(async move {
                let (mut samples, mut failed) = (Vec::new(), 0);
                let mut n = client * 7_919;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match runner.one(n).await {
                        Ok(()) => samples.push(sent.elapsed()),
                        Err(error) => {
                            failed += 1;
                            if failed <= 3 {
                                eprintln!("request failed: {error}");
                            }
                        }
                    }
                    n += 1;
                }
                (samples, failed)
            })
        })
        .collect();
    let (mut samples, mut failed) = (Vec::new(), 0);
    for task in tasks {
        let (s, f) = task.await?;
        samples.extend(s);
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((samples.len(), failed, elapsed, summarize(samples)))
}

async fn open_loop(
    runner: &Arc<Runner>,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(usize, Summary)> {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = usize::try_from(rate * seconds)?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    // Requests leave on schedule whether or not earlier ones have answered, so a slow
    // answer shows in the latency instead of lowering the load.
    for n in 0..total {
        tokio::time::sleep_until((started + interval.mul_f64(n as f64)).into()).await;
        let runner = runner.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            runner.one(n).await.map(|()| sent.elapsed())
        }));
    }
    let (mut samples, mut failed) = (Vec::new(), 0);
    for task in tasks {
        match task.await? {
            Ok(sample) => samples.push(sample),
            Err(_) => failed += 1,
        }
    }
    Ok((failed, summarize(samples)))
}
