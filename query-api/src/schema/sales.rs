//! Sales reports: `dailySales` and `topProducts`.

use async_graphql::SimpleObject;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::types::{Date, Long, Money};
use crate::errors::ApiError;

/// Most days one `dailySales` query may span.
pub const MAX_DAYS: i64 = 3_660;
/// Most products one `topProducts` query may return.
pub const MAX_PRODUCTS: i32 = 1_000;

/// One UTC day in one currency.
#[derive(Debug, Clone, SimpleObject)]
pub struct DailySales {
    pub day: Date,
    pub currency: String,
    pub orders_placed: Long,
    /// Paid on this day, less what was later cancelled.
    pub revenue: Money,
    pub cancellations: Long,
    /// Refunds owed for paid orders cancelled on this day.
    pub refunds_due: Money,
}

/// What one SKU sold in one currency.
#[derive(Debug, Clone, SimpleObject)]
pub struct ProductSales {
    pub sku: String,
    pub currency: String,
    pub units: Long,
    pub revenue: Money,
}

pub(crate) async fn daily_sales(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
    currency: Option<String>,
) -> Result<Vec<DailySales>, ApiError> {
    if from > to {
        return Err(ApiError::BadInput("`from` is after `to`".to_owned()));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::BadInput(format!(
            "a report spans at most {MAX_DAYS} days"
        )));
    }
    let rows: Vec<(NaiveDate, String, i64, String, i64, String)> = sqlx::query_as(
        "SELECT day, currency::text, orders_placed, revenue_minor::text, cancellations, refunds_due_minor::text
         FROM daily_sales WHERE day BETWEEN $1 AND $2 AND ($3::text IS NULL OR currency = $3)
         ORDER BY day, currency",
    )
    .bind(from)
    .bind(to)
    .bind(currency)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(day, currency, placed, revenue, cancellations, refunds)| {
            Ok(DailySales {
                day: Date(day),
                orders_placed: Long::from(placed),
                revenue: Money::new(Long::parse_sum(&revenue)?, &currency),
                cancellations: Long::from(cancellations),
                refunds_due: Money::new(Long::parse_sum(&refunds)?, &currency),
                currency,
            })
        })
        .collect()
}

/// The best-selling products by units: over all time from the product sales model, or
/// over orders paid in `[from, to)` from the sales model's per-order facts. Either way only
/// paid orders that were not cancelled count.
pub(crate) async fn top_products(
    pool: &PgPool,
    limit: i32,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    currency: Option<String>,
) -> Result<Vec<ProductSales>, ApiError> {
    if !(1..=MAX_PRODUCTS).contains(&limit) {
        return Err(ApiError::BadInput(format!(
            "`limit` must be between 1 and {MAX_PRODUCTS}"
        )));
    }
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::BadInput("`from` is after `to`".to_owned()));
    }
    let mut sql = if from.is_none() && to.is_none() {
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT sku, currency::text, units, revenue_minor::text AS revenue FROM product_sales WHERE units > 0",
        );
        if let Some(currency) = currency {
            sql.push(" AND currency = ").push_bind(currency);
        }
        sql.push(" ORDER BY units DESC, revenue_minor DESC, sku, currency LIMIT ");
        sql
    } else {
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT l.sku, o.currency::text, sum(l.quantity)::int8 AS units, sum(l.line_total_minor)::text AS revenue
             FROM sales_orders o JOIN sales_order_lines l USING (order_id)
             WHERE o.paid_at IS NOT NULL AND o.status <> 'cancelled'",
        );
        if let Some(from) = from {
            sql.push(" AND o.paid_at >= ").push_bind(from);
        }
        if let Some(to) = to {
            sql.push(" AND o.paid_at < ").push_bind(to);
        }
        if let Some(currency) = currency {
            sql.push(" AND o.currency = ").push_bind(currency);
        }
        sql.push(" GROUP BY l.sku, o.currency");
        sql.push(" ORDER BY units DESC, sum(l.line_total_minor) DESC, l.sku, o.currency LIMIT ");
        sql
    };
    sql.push_bind(i64::from(limit));
    let rows: Vec<(String, String, i64, String)> = sql.build_query_as().fetch_all(pool).await?;
    rows.into_iter()
        .map(|(sku, currency, units, revenue)| {
            Ok(ProductSales {
                sku,
                units: Long::from(units),
                revenue: Money::new(Long::parse_sum(&revenue)?, &currency),
                currency,
            })
        })
        .collect()
}
