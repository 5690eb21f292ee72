//! `orders(...)`: a Relay connection over the orders read model with keyset cursors.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use tokio::sync::OnceCell;

use super::order::{ORDER_COLUMNS, Order, OrderRow};
use super::types::{Long, OrderStatus};
use crate::errors::{ApiError, ApiResult};
use crate::pagination::{Cursor, Direction, Page, PageArgs, SortField};

/// Which orders a list holds. Every field narrows it; an empty filter matches every order.
#[derive(Debug, Clone, Default, InputObject)]
pub struct OrdersFilter {
    /// Any of these statuses.
    pub status: Option<Vec<OrderStatus>>,
    pub customer_id: Option<String>,
    /// ISO 4217 code, for example `EUR`.
    pub currency: Option<String>,
    /// Placed at or after this time.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before this time.
    pub placed_to: Option<DateTime<Utc>>,
    /// A total of at least this many minor units.
    pub total_min: Option<Long>,
    /// A total of at most this many minor units.
    pub total_max: Option<Long>,
}

#[derive(Debug, Clone, Copy, InputObject)]
pub struct OrdersOrderBy {
    pub field: SortField,
    #[graphql(default_with = "Direction::Desc")]
    pub direction: Direction,
}

impl Default for OrdersOrderBy {
    fn default() -> Self {
        Self {
            field: SortField::PlacedAt,
            direction: Direction::Desc,
        }
    }
}

impl OrdersFilter {
    fn check(&self) -> Result<(), ApiError> {
        if let Some(currency) = &self.currency
            && (currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(ApiError::BadInput(format!(
                "`{currency}` is not an ISO 4217 currency code"
            )));
        }
        if let (Some(from), Some(to)) = (self.placed_from, self.placed_to)
            && from > to
        {
            return Err(ApiError::BadInput(
                "`placedFrom` is after `placedTo`".to_owned(),
            ));
        }
        if let (Some(min), Some(max)) = (self.total_min, self.total_max)
            && min.0 > max.0
        {
            return Err(ApiError::BadInput(
                "`totalMin` is above `totalMax`".to_owned(),
            ));
        }
        Ok(())
    }

    /// Appends ` AND ...` for each set field.
    fn push_where(&self, sql: &mut QueryBuilder<Postgres>) {
        if let Some(statuses) = &self.status {
            // One status is an equality, so the (status, key, id) indexes serve the order
            // too; several need `= ANY` (and a sort of the matches).
            match statuses.as_slice() {
                [one] => {
                    sql.push(" AND status = ").push_bind(one.as_db());
                }
                _ => {
                    sql.push(" AND status = ANY(")
                        .push_bind(statuses.iter().map(|s| s.as_db()).collect::<Vec<_>>())
                        .push(")");
                }
            }
        }
        if let Some(customer) = &self.customer_id {
            sql.push(" AND customer_id = ").push_bind(customer.clone());
        }
        if let Some(currency) = &self.currency {
            sql.push(" AND currency = ").push_bind(currency.clone());
        }
        if let Some(from) = self.placed_from {
            sql.push(" AND placed_at >= ").push_bind(from);
        }
        if let Some(to) = self.placed_to {
            sql.push(" AND placed_at < ").push_bind(to);
        }
        if let Some(min) = self.total_min {
            sql.push(" AND total_minor >= ")
                .push_bind(min.saturating_i64());
        }
        if let Some(max) = self.total_max {
            sql.push(" AND total_minor <= ")
                .push_bind(max.saturating_i64());
        }
    }
}

/// The sort key of a row, as a cursor holds it.
fn key_of(row: &OrderRow, field: SortField) -> i64 {
    match field {
        SortField::PlacedAt => row.placed_at.timestamp_micros(),
        SortField::Total => row.total_minor,
    }
}

/// Appends the bound `(key, order_id) <op> (cursor)`.
fn push_bound(sql: &mut QueryBuilder<Postgres>, cursor: &Cursor, op: &str) {
    sql.push(format_args!(
        " AND ({}, order_id) {op} (",
        cursor.field.column()
    ));
    match cursor.field {
        SortField::PlacedAt => {
            let at = DateTime::<Utc>::from_timestamp_micros(cursor.key).unwrap_or_default();
            sql.push_bind(at);
        }
        SortField::Total => {
            sql.push_bind(cursor.key);
        }
    }
    sql.push(", ").push_bind(cursor.id).push(")");
}

pub(crate) struct OrdersQuery {
    pub(crate) filter: OrdersFilter,
    pub(crate) page: Page,
    pub(crate) count_limit: i64,
}

impl OrdersQuery {
    pub(crate) fn new(
        filter: OrdersFilter,
        order_by: OrdersOrderBy,
        args: &PageArgs,
        max_page: usize,
        count_limit: i64,
    ) -> Result<Self, ApiError> {
        filter.check()?;
        let page = Page::new(args, order_by.field, order_by.direction, 20, max_page)?;
        Ok(Self {
            filter,
            page,
            count_limit,
        })
    }

    pub(crate) async fn fetch(self, pool: &PgPool) -> Result<OrderConnection, ApiError> {
        let page = &self.page;
        let column = page.field.column();
        let mut sql =
            QueryBuilder::<Postgres>::new(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE true"));
        self.filter.push_where(&mut sql);
        let (after_op, before_op) = match page.direction {
            Direction::Asc => (">", "<"),
            Direction::Desc => ("<", ">"),
        };
        if let Some(after) = &page.after {
            push_bound(&mut sql, after, after_op);
        }
        if let Some(before) = &page.before {
            push_bound(&mut sql, before, before_op);
        }
        let dir = match page.fetch_direction() {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        };
        sql.push(format_args!(
            " ORDER BY {column} {dir}, order_id {dir} LIMIT "
        ));
        sql.push_bind(i64::try_from(page.limit).unwrap_or(i64::MAX) + 1);
        let rows: Vec<OrderRow> = sql.build_query_as().fetch_all(pool).await?;
        let (rows, more) = page.trim(rows);
        let (has_previous_page, has_next_page) = page.page_info(more);
        let field = page.field;
        let edges = rows
            .into_iter()
            .map(|row| {
                let cursor = Cursor {
                    field,
                    key: key_of(&row, field),
                    id: row.order_id,
                }
                .encode();
                Ok(OrderEdge {
                    cursor,
                    node: Order::from_row(row, None)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let page_info = PageInfo {
            has_previous_page,
            has_next_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Ok(OrderConnection {
            edges,
            page_info,
            count: Arc::new(CountQuery {
                filter: self.filter,
                limit: self.count_limit,
            }),
            counted: Arc::new(OnceCell::new()),
        })
    }
}

#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    pub has_previous_page: bool,
    pub has_next_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct OrderEdge {
    pub cursor: String,
    pub node: Order,
}

struct CountQuery {
    filter: OrdersFilter,
    limit: i64,
}

/// A page of orders.
pub struct OrderConnection {
    edges: Vec<OrderEdge>,
    page_info: PageInfo,
    count: Arc<CountQuery>,
    /// The count, computed once and only when asked for.
    counted: Arc<OnceCell<i64>>,
}

impl OrderConnection {
    async fn counted(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let pool = ctx.data::<PgPool>()?;
        let count = self.count.clone();
        self.counted
            .get_or_try_init(|| async move {
                let mut sql = QueryBuilder::<Postgres>::new(
                    "SELECT count(*) FROM (SELECT 1 FROM orders WHERE true",
                );
                count.filter.push_where(&mut sql);
                sql.push(" LIMIT ")
                    .push_bind(count.limit.saturating_add(1))
                    .push(") matching");
                let n: i64 = sql.build_query_scalar().fetch_one(pool).await?;
                Ok::<_, ApiError>(n)
            })
            .await
            .copied()
    }
}

#[Object]
impl OrderConnection {
    async fn edges(&self) -> &[OrderEdge] {
        &self.edges
    }

    /// The orders of the page, without their cursors.
    async fn nodes(&self) -> Vec<&Order> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many orders match the filter, counted exactly up to the service's count limit
    /// (10,000 by default) and reported as that limit beyond it: see `totalCountIsExact`.
    /// Computed only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(self.counted(ctx).await?.min(self.count.limit))
    }

    /// Whether `totalCount` is exact (false when more orders match than the count limit).
    async fn total_count_is_exact(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(self.counted(ctx).await? <= self.count.limit)
    }
}
