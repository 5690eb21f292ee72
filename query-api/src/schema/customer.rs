//! `Customer`: their statistics per currency (sales read model) and their orders.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, SimpleObject};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::Limits;
use super::orders::{OrderConnection, OrdersFilter, OrdersOrderBy, OrdersQuery};
use super::types::{Long, Money};
use crate::errors::{ApiError, ApiResult, loaded};
use crate::pagination::PageArgs;

/// A customer's orders in one currency.
#[derive(Debug, Clone, SimpleObject)]
pub struct CustomerStats {
    pub currency: String,
    pub orders: Long,
    /// Orders neither delivered nor cancelled.
    pub open_orders: Long,
    /// What the customer's paid, uncancelled orders add up to.
    pub lifetime_value: Money,
    pub first_order_at: DateTime<Utc>,
    pub last_order_at: DateTime<Utc>,
}

#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Customer {
    pub id: String,
    /// One entry per currency the customer has ordered in.
    pub stats: Vec<CustomerStats>,
}

// A Relay connection's arguments are GraphQL arguments, so they are function arguments.
#[allow(clippy::too_many_arguments)]
#[ComplexObject]
impl Customer {
    /// The customer's orders, newest first unless `orderBy` says otherwise.
    #[graphql(complexity = "super::page_cost(first, last, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrdersFilter>,
        order_by: Option<OrdersOrderBy>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<OrderConnection> {
        let limits = ctx.data::<Limits>()?;
        let filter = OrdersFilter {
            customer_id: Some(self.id.clone()),
            ..filter.unwrap_or_default()
        };
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let query = OrdersQuery::new(
            filter,
            order_by.unwrap_or_default(),
            &args,
            limits.max_page_size,
            limits.count_limit,
        )?;
        Ok(query.fetch(ctx.data::<PgPool>()?).await?)
    }
}

impl Customer {
    /// The customer, or `None` when the read model knows no order of theirs.
    pub(crate) async fn load(ctx: &Context<'_>, id: String) -> Result<Option<Self>, ApiError> {
        let loader = ctx.data::<DataLoader<CustomerStatsLoader>>()?;
        let stats = loaded(loader.load_one(id.clone()).await)?;
        Ok(stats.map(|stats| Self { id, stats }))
    }
}

/// Stats of many customers in one query.
pub struct CustomerStatsLoader(pub PgPool);

impl Loader<String> for CustomerStatsLoader {
    type Value = Vec<CustomerStats>;
    type Error = std::sync::Arc<ApiError>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        super::batch_loaded("customer_stats", keys.len());
        let rows: Vec<(String, String, i64, i64, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT customer_id, currency::text, orders, open_orders, lifetime_value_minor::text, first_order_at, last_order_at
             FROM customer_stats WHERE customer_id = ANY($1) ORDER BY customer_id, currency",
        )
        .bind(keys)
        .fetch_all(&self.0)
        .await
        .map_err(|e| std::sync::Arc::new(ApiError::from(e)))?;
        let mut stats: HashMap<String, Vec<CustomerStats>> = HashMap::new();
        for (customer, currency, orders, open, value, first, last) in rows {
            stats.entry(customer).or_default().push(CustomerStats {
                lifetime_value: Money::new(
                    Long::parse_sum(&value).map_err(std::sync::Arc::new)?,
                    &currency,
                ),
                currency,
                orders: Long::from(orders),
                open_orders: Long::from(open),
                first_order_at: first,
                last_order_at: last,
            });
        }
        Ok(stats)
    }
}
