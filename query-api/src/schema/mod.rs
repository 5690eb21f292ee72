//! The GraphQL schema: queries over the read models and subscriptions to their changes.

pub mod customer;
pub mod order;
pub mod orders;
pub mod projections;
pub mod sales;
pub mod subscription;
pub mod types;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, EmptyMutation, ID, Object, Schema};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::access;
use crate::answer_sources::{Source, Sources};
use crate::changes::ChangeFeed;
use crate::errors::{ApiResult, loaded};
use crate::freshness::{Freshness, Model, WaitBudget, Wanted};
use crate::limits::RequestLimits;
use crate::operation_metrics::{OperationMetrics, OperationNames};
use crate::order_cache::OrderCache;
use crate::pagination::PageArgs;
use crate::persisted::PersistedQueries;
use customer::{Customer, CustomerStatsLoader};
use order::{HistoryLoader, LinesLoader, Order, OrderLoader, parse_order_id};
use orders::{OrderConnection, OrdersFilter, OrdersOrderBy, OrdersQuery};
use projections::ProjectionStatus;
use sales::{DailySales, ProductSales};
use subscription::SubscriptionRoot;
use types::Date;

pub type OrderlogSchema = Schema<QueryRoot, EmptyMutation, SubscriptionRoot>;

/// The limits a query runs under.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_page_size: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_query_bytes: usize,
    pub count_limit: i64,
    pub introspection: bool,
}

/// What a connection field costs: its children once per item of the largest page it may
/// return (20 when no size is given).
pub(crate) fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first
        .or(last)
        .map_or(20, |n| usize::try_from(n).unwrap_or(0))
        .max(1);
    size.saturating_mul(child_complexity).saturating_add(1)
}

/// How long a DataLoader gathers keys before it queries. Sibling fields register their keys
/// within one poll of their parent (microseconds), so a fraction of async-graphql's default
/// millisecond is enough to batch them, and a single `order(id)` does not wait a
/// millisecond per level. (async-graphql times this with `futures-timer`, not tokio's
/// millisecond wheel.)
const LOADER_DELAY: std::time::Duration = std::time::Duration::from_micros(200);

/// `order(id)` on a cache miss: waits for the version a token or `minVersion` names, then
/// reads the order; with its lines (in one statement) when the query asks for them, and
/// that read fills the cache unless a change signal for the order came meanwhile.
async fn order_from_database(
    ctx: &Context<'_>,
    cache: &OrderCache,
    order_id: uuid::Uuid,
    wanted: Option<Wanted>,
) -> ApiResult<Option<Order>> {
    if let Some(wanted) = wanted {
        ctx.data::<Freshness>()?
            .wait(ctx.data_opt::<WaitBudget>(), Model::Orders, wanted)
            .await?;
    }
    // After the wait: every signal before it was applied to what this read will see.
    let ticket = cache.ticket();
    if ctx.look_ahead().field("lines").exists() {
        let found = order::order_with_lines(ctx.data::<PgPool>()?, order_id, wanted).await?;
        if let Some(order) = &found {
            cache.fill(ticket, order);
        }
        return Ok(found);
    }
    let row = loaded(
        ctx.data::<DataLoader<OrderLoader>>()?
            .load_one(order_id)
            .await,
    )?;
    Ok(row.map(|row| Order::from_row(row, wanted)).transpose()?)
}

/// Counts one batch of a DataLoader and its keys, so `/metrics` shows that nested fields
/// load in batches (`orderlog_query_loader_keys` per `loader`).
pub(crate) fn batch_loaded(loader: &'static str, keys: usize) {
    metrics::histogram!("orderlog_query_loader_keys", "loader" => loader).record(keys as f64);
}

/// What the schema shares with the HTTP layer: the caches and the operation names.
pub struct Shared {
    pub cache: OrderCache,
    pub persisted: PersistedQueries,
    pub names: std::sync::Arc<OperationNames>,
}

/// Builds the schema over a read pool and a change feed.
pub fn build(
    pool: PgPool,
    feed: ChangeFeed,
    freshness: Freshness,
    shared: Shared,
    limits: Limits,
) -> OrderlogSchema {
    // Served from the start, before the first subscription.
    metrics::gauge!("orderlog_query_subscriptions_open").increment(0.0);
    let spawner = |future| {
        tokio::spawn(future);
    };
    let mut builder = Schema::build(QueryRoot, EmptyMutation, SubscriptionRoot)
        .data(DataLoader::new(LinesLoader(pool.clone()), spawner).delay(LOADER_DELAY))
        .data(DataLoader::new(HistoryLoader(pool.clone()), spawner).delay(LOADER_DELAY))
        .data(DataLoader::new(OrderLoader(pool.clone()), spawner).delay(LOADER_DELAY))
        .data(DataLoader::new(CustomerStatsLoader(pool.clone()), spawner).delay(LOADER_DELAY))
        .data(pool)
        .data(feed)
        .data(freshness)
        .data(shared.cache)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(8)
        // Before the limits: a persisted query's text is checked like any other.
        .extension(shared.persisted)
        // Depth is checked by RequestLimits: introspection has its own bound there.
        .extension(RequestLimits::new(
            limits.max_query_bytes,
            limits.max_depth,
            limits.introspection,
        ))
        .extension(OperationMetrics::new(shared.names));
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.data(limits).finish()
}

/// The schema in SDL, as checked in under `schemas/graphql/`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, EmptyMutation, SubscriptionRoot)
        .finish()
        .sdl()
}

pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// One order, or null when the read model has no such order.
    ///
    /// For read-your-writes, pass the `consistencyToken` of a command answer (or a
    /// `minVersion`): the answer then waits until the read model holds that version, and
    /// fails with `READ_MODEL_BEHIND` if it does not within the service's bound.
    async fn order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        consistency_token: Option<String>,
        min_version: Option<i64>,
    ) -> ApiResult<Option<Order>> {
        let order_id = parse_order_id(&id)?;
        let wanted = Wanted::from_args(Some(order_id), consistency_token.as_deref(), min_version)?;
        let cache = ctx.data::<OrderCache>()?;
        let found = match cache.get(order_id, wanted) {
            Some(order) => Some(order),
            None => order_from_database(ctx, cache, order_id, wanted).await?,
        };
        // Another customer's order is, to a customer's token, no order at all (whatever the
        // cache held: it is keyed by order alone).
        let found = match found {
            Some(order) if access::sees(ctx, &order.customer_id)? => Some(order),
            _ => None,
        };
        if let Some(sources) = ctx.data_opt::<std::sync::Arc<Sources>>() {
            sources.record(found.as_ref().map(|order| Source {
                order: order.uuid,
                version: order.version.0,
                customer: order.customer_id.clone(),
            }));
        }
        Ok(found)
    }

    /// Orders matching `filter`, as a Relay connection with keyset cursors. Newest first by
    /// default. `first`/`after` page forwards, `last`/`before` backwards; a page holds at
    /// most the service's maximum page size (100 by default).
    #[graphql(complexity = "page_cost(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrdersFilter>,
        order_by: Option<OrdersOrderBy>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        consistency_token: Option<String>,
    ) -> ApiResult<OrderConnection> {
        if let Some(wanted) = Wanted::from_args(None, consistency_token.as_deref(), None)? {
            ctx.data::<Freshness>()?
                .wait(ctx.data_opt::<WaitBudget>(), Model::Orders, wanted)
                .await?;
        }
        let limits = ctx.data::<Limits>()?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let mut filter = filter.unwrap_or_default();
        if let Some(own) = access::own_customer(ctx)? {
            match &filter.customer_id {
                // Asking for another customer's orders finds none: `customerId` narrows.
                Some(asked) if asked != own => filter.customer_id = Some(String::new()),
                _ => filter.customer_id = Some(own.to_owned()),
            }
        }
        let query = OrdersQuery::new(
            filter,
            order_by.unwrap_or_default(),
            &args,
            limits.max_page_size,
            limits.count_limit,
        )?;
        Ok(query.fetch(ctx.data::<PgPool>()?).await?)
    }

    /// A customer's statistics and orders, or null when no order of theirs is known.
    /// A `consistencyToken` waits for both the sales and the orders read models.
    async fn customer(
        &self,
        ctx: &Context<'_>,
        id: String,
        consistency_token: Option<String>,
    ) -> ApiResult<Option<Customer>> {
        if let Some(wanted) = Wanted::from_args(None, consistency_token.as_deref(), None)? {
            let freshness = ctx.data::<Freshness>()?;
            let budget = ctx.data_opt::<WaitBudget>();
            freshness.wait(budget, Model::Sales, wanted).await?;
            freshness.wait(budget, Model::Orders, wanted).await?;
        }
        if !access::sees(ctx, &id)? {
            return Ok(None);
        }
        Ok(Customer::load(ctx, id).await?)
    }

    /// Sales per UTC day and currency, `from` and `to` included.
    async fn daily_sales(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        currency: Option<String>,
    ) -> ApiResult<Vec<DailySales>> {
        access::across_customers(ctx, "dailySales")?;
        Ok(sales::daily_sales(ctx.data::<PgPool>()?, from.0, to.0, currency).await?)
    }

    /// The best-selling products by units sold, over all time or over orders paid in
    /// `[from, to)`.
    #[graphql(complexity = "usize::try_from(limit).unwrap_or(0).saturating_mul(child_complexity)")]
    async fn top_products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] limit: i32,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        currency: Option<String>,
    ) -> ApiResult<Vec<ProductSales>> {
        access::across_customers(ctx, "topProducts")?;
        Ok(sales::top_products(ctx.data::<PgPool>()?, limit, from, to, currency).await?)
    }

    /// Each projection's lag behind the log and the time of its last applied event.
    async fn projections(&self, ctx: &Context<'_>) -> ApiResult<Vec<ProjectionStatus>> {
        Ok(projections::projections(ctx.data::<PgPool>()?).await?)
    }
}
