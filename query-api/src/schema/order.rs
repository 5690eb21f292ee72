//! `Order`: one row of the orders read model, its lines and its history.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{ComplexObject, Context, ID, SimpleObject};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::types::{Address, Long, Money, OrderStatus};
use crate::errors::{ApiError, ApiResult, loaded};
use crate::freshness::{Freshness, Model, WaitBudget, Wanted};

/// The columns every order query selects, in [`OrderRow`]'s order.
pub(crate) const ORDER_COLUMNS: &str = "order_id, customer_id, currency, status, total_minor, line_count, shipping_address, \
     payment_reference, paid_minor, carrier, tracking_number, cancel_reason, refund_due_minor, placed_at, paid_at, \
     shipped_at, delivered_at, cancelled_at, version, last_event_at, payment_due_at, ship_by, overdue";

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub(crate) order_id: Uuid,
    pub(crate) customer_id: String,
    pub(crate) currency: String,
    pub(crate) status: String,
    pub(crate) total_minor: i64,
    pub(crate) line_count: i32,
    pub(crate) shipping_address: serde_json::Value,
    pub(crate) payment_reference: Option<String>,
    pub(crate) paid_minor: Option<i64>,
    pub(crate) carrier: Option<String>,
    pub(crate) tracking_number: Option<String>,
    pub(crate) cancel_reason: Option<String>,
    pub(crate) refund_due_minor: Option<i64>,
    pub(crate) placed_at: DateTime<Utc>,
    pub(crate) paid_at: Option<DateTime<Utc>>,
    pub(crate) shipped_at: Option<DateTime<Utc>>,
    pub(crate) delivered_at: Option<DateTime<Utc>>,
    pub(crate) cancelled_at: Option<DateTime<Utc>>,
    pub(crate) version: i64,
    pub(crate) last_event_at: DateTime<Utc>,
    pub(crate) payment_due_at: Option<DateTime<Utc>>,
    pub(crate) ship_by: Option<DateTime<Utc>>,
    pub(crate) overdue: bool,
}

/// How the order was paid.
#[derive(Debug, Clone, SimpleObject)]
pub struct Payment {
    pub reference: String,
    pub amount: Money,
    pub paid_at: DateTime<Utc>,
}

/// How the order travels.
#[derive(Debug, Clone, SimpleObject)]
pub struct Shipment {
    pub carrier: String,
    pub tracking_number: String,
    pub shipped_at: DateTime<Utc>,
}

/// Why and when the order was cancelled, and what is owed back.
#[derive(Debug, Clone, SimpleObject)]
pub struct Cancellation {
    pub reason: String,
    pub cancelled_at: DateTime<Utc>,
    /// Set when a paid order was cancelled: the amount to refund.
    pub refund_due: Option<Money>,
}

#[derive(Debug, Clone, SimpleObject)]
pub struct OrderLine {
    pub position: i32,
    pub sku: String,
    pub quantity: i32,
    pub unit_price: Money,
    pub line_total: Money,
}

/// One event of the order's history, as the timeline read model holds it.
#[derive(Debug, Clone, SimpleObject)]
pub struct TimelineEvent {
    pub version: Long,
    pub event_id: ID,
    /// The CloudEvents type, for example `dev.orderlog.order.placed`.
    #[graphql(name = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// The event's data, as JSON.
    pub data: async_graphql::Json<serde_json::Value>,
}

/// An order, as the orders read model holds it.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Order {
    pub id: ID,
    pub customer_id: String,
    pub status: OrderStatus,
    pub currency: String,
    pub total: Money,
    pub line_count: i32,
    pub shipping_address: Option<Address>,
    pub payment: Option<Payment>,
    pub shipment: Option<Shipment>,
    pub cancellation: Option<Cancellation>,
    pub placed_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The number of events applied: the order's version in the log.
    pub version: Long,
    pub last_event_at: DateTime<Utc>,
    /// When a placed order expires if it is not paid by then (null for orders placed
    /// before deadlines existed).
    pub payment_due_at: Option<DateTime<Utc>>,
    /// The shipping promise of a paid order: it is flagged `overdue` if not shipped by then.
    pub ship_by: Option<DateTime<Utc>>,
    /// Whether the order passed its shipping promise unshipped.
    pub overdue: bool,
    #[graphql(skip)]
    pub(crate) uuid: Uuid,
    /// What a read-your-writes query asked of this order, for the nested models.
    #[graphql(skip)]
    pub(crate) wanted: Option<Wanted>,
    /// The lines, when they were read with the order (see [`order_with_lines`]).
    #[graphql(skip)]
    pub(crate) prefetched_lines: Option<Vec<OrderLine>>,
}

impl Order {
    pub(crate) fn from_row(row: OrderRow, wanted: Option<Wanted>) -> Result<Self, ApiError> {
        let status = OrderStatus::from_db(&row.status).ok_or_else(|| {
            tracing::error!(order_id = %row.order_id, status = row.status, "unknown status in the orders read model");
            ApiError::Internal
        })?;
        let money = |minor: i64| Money::new(minor, &row.currency);
        let payment = match (row.payment_reference, row.paid_minor, row.paid_at) {
            (Some(reference), Some(paid), Some(paid_at)) => Some(Payment {
                reference,
                amount: money(paid),
                paid_at,
            }),
            _ => None,
        };
        let shipment = match (row.carrier, row.tracking_number, row.shipped_at) {
            (Some(carrier), Some(tracking_number), Some(shipped_at)) => Some(Shipment {
                carrier,
                tracking_number,
                shipped_at,
            }),
            _ => None,
        };
        let cancellation = match (row.cancel_reason, row.cancelled_at) {
            (Some(reason), Some(cancelled_at)) => Some(Cancellation {
                reason,
                cancelled_at,
                refund_due: row.refund_due_minor.map(money),
            }),
            _ => None,
        };
        Ok(Self {
            id: ID(row.order_id.to_string()),
            uuid: row.order_id,
            customer_id: row.customer_id,
            status,
            total: money(row.total_minor),
            currency: row.currency,
            line_count: row.line_count,
            shipping_address: serde_json::from_value(row.shipping_address).ok(),
            payment,
            shipment,
            cancellation,
            placed_at: row.placed_at,
            paid_at: row.paid_at,
            shipped_at: row.shipped_at,
            delivered_at: row.delivered_at,
            cancelled_at: row.cancelled_at,
            version: Long::from(row.version),
            last_event_at: row.last_event_at,
            payment_due_at: row.payment_due_at,
            ship_by: row.ship_by,
            overdue: row.overdue,
            wanted,
            prefetched_lines: None,
        })
    }
}

/// One line as [`order_with_lines`] aggregates it.
#[derive(Debug, serde::Deserialize)]
struct LineJson {
    position: i32,
    sku: String,
    quantity: i32,
    unit: i64,
    total: i64,
}

#[derive(sqlx::FromRow)]
struct OrderWithLinesRow {
    #[sqlx(flatten)]
    row: OrderRow,
    lines: sqlx::types::Json<Vec<LineJson>>,
}

/// One order and its lines in one statement (one round trip, one snapshot), for
/// `order(id)` when the query asks for the lines.
pub(crate) async fn order_with_lines(
    pool: &PgPool,
    id: Uuid,
    wanted: Option<Wanted>,
) -> Result<Option<Order>, ApiError> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS}, coalesce((
             SELECT json_agg(json_build_object('position', l.position, 'sku', l.sku, 'quantity', l.quantity,
                                               'unit', l.unit_price_minor, 'total', l.line_total_minor)
                             ORDER BY l.position)
             FROM order_lines l WHERE l.order_id = o.order_id), '[]') AS lines
         FROM orders o WHERE o.order_id = $1"
    );
    let found: Option<OrderWithLinesRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let Some(OrderWithLinesRow { row, lines }) = found else {
        return Ok(None);
    };
    let currency = row.currency.clone();
    let mut order = Order::from_row(row, wanted)?;
    order.prefetched_lines = Some(
        lines
            .0
            .into_iter()
            .map(|l| OrderLine {
                position: l.position,
                sku: l.sku,
                quantity: l.quantity,
                unit_price: Money::new(l.unit, &currency),
                line_total: Money::new(l.total, &currency),
            })
            .collect(),
    );
    Ok(Some(order))
}

#[ComplexObject]
impl Order {
    /// The order's lines, in position order.
    async fn lines(&self, ctx: &Context<'_>) -> ApiResult<Vec<OrderLine>> {
        if let Some(lines) = &self.prefetched_lines {
            return Ok(lines.clone());
        }
        let loader = ctx.data::<DataLoader<LinesLoader>>()?;
        Ok(loaded(loader.load_one(self.uuid).await)?.unwrap_or_default())
    }

    /// The customer who placed the order (from the sales read model); loaded in batches
    /// across a page of orders.
    async fn customer(&self, ctx: &Context<'_>) -> ApiResult<Option<super::customer::Customer>> {
        Ok(super::customer::Customer::load(ctx, self.customer_id.clone()).await?)
    }

    /// Every event of the order, oldest first (from the timeline read model).
    async fn history(&self, ctx: &Context<'_>) -> ApiResult<Vec<TimelineEvent>> {
        if let Some(wanted) = self.wanted.filter(|w| w.order_id == self.uuid) {
            ctx.data::<Freshness>()?
                .wait(ctx.data_opt::<WaitBudget>(), Model::Timeline, wanted)
                .await?;
        }
        let loader = ctx.data::<DataLoader<HistoryLoader>>()?;
        Ok(loaded(loader.load_one(self.uuid).await)?.unwrap_or_default())
    }
}

/// Lines of many orders in one query.
pub struct LinesLoader(pub PgPool);

impl Loader<Uuid> for LinesLoader {
    type Value = Vec<OrderLine>;
    type Error = std::sync::Arc<ApiError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        super::batch_loaded("lines", keys.len());
        let rows: Vec<(Uuid, i32, String, i32, i64, i64, String)> = sqlx::query_as(
            "SELECT l.order_id, l.position, l.sku, l.quantity, l.unit_price_minor, l.line_total_minor, o.currency::text
             FROM order_lines l JOIN orders o USING (order_id)
             WHERE l.order_id = ANY($1) ORDER BY l.order_id, l.position",
        )
        .bind(keys)
        .fetch_all(&self.0)
        .await
        .map_err(|e| std::sync::Arc::new(ApiError::from(e)))?;
        let mut lines: HashMap<Uuid, Vec<OrderLine>> = HashMap::new();
        for (order_id, position, sku, quantity, unit, total, currency) in rows {
            lines.entry(order_id).or_default().push(OrderLine {
                position,
                sku,
                quantity,
                unit_price: Money::new(unit, &currency),
                line_total: Money::new(total, &currency),
            });
        }
        Ok(lines)
    }
}

/// Histories of many orders in one query.
pub struct HistoryLoader(pub PgPool);

impl Loader<Uuid> for HistoryLoader {
    type Value = Vec<TimelineEvent>;
    type Error = std::sync::Arc<ApiError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        super::batch_loaded("history", keys.len());
        let rows: Vec<(Uuid, i64, Uuid, String, DateTime<Utc>, serde_json::Value)> =
            sqlx::query_as(
                "SELECT order_id, version, event_id, event_type, occurred_at, payload
             FROM order_timeline WHERE order_id = ANY($1) ORDER BY order_id, version",
            )
            .bind(keys)
            .fetch_all(&self.0)
            .await
            .map_err(|e| std::sync::Arc::new(ApiError::from(e)))?;
        let mut history: HashMap<Uuid, Vec<TimelineEvent>> = HashMap::new();
        for (order_id, version, event_id, event_type, occurred_at, payload) in rows {
            history.entry(order_id).or_default().push(TimelineEvent {
                version: Long::from(version),
                event_id: ID(event_id.to_string()),
                event_type,
                occurred_at,
                data: async_graphql::Json(payload),
            });
        }
        Ok(history)
    }
}

/// Whole orders by id in one query (for `order(id)` and subscriptions).
pub(crate) struct OrderLoader(pub(crate) PgPool);

impl Loader<Uuid> for OrderLoader {
    type Value = OrderRow;
    type Error = std::sync::Arc<ApiError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        super::batch_loaded("orders", keys.len());
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ANY($1)");
        let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(keys)
            .fetch_all(&self.0)
            .await
            .map_err(|e| std::sync::Arc::new(ApiError::from(e)))?;
        Ok(rows.into_iter().map(|r| (r.order_id, r)).collect())
    }
}

/// Parses an order id argument.
pub(crate) fn parse_order_id(id: &ID) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| ApiError::BadInput(format!("`{}` is not an order id (a UUID)", id.as_str())))
}
