//! Subscriptions, pushed from the projectors' change signal (no polling).

use std::collections::HashMap;

use async_graphql::{Context, ID, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use futures::stream::BoxStream;
use sqlx::PgPool;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::order::{ORDER_COLUMNS, Order, OrderRow, parse_order_id};
use crate::access;
use crate::changes::{Change, ChangeFeed};
use crate::errors::{ApiError, GraphqlError};
use crate::slots::{Slot, Slots};

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The order each time the orders read model commits a new version of it.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<BoxStream<'static, Order>> {
        let order_id = parse_order_id(&id).map_err(GraphqlError::from)?;
        let slot = taken_slot(ctx)?;
        let caller = access::caller(ctx).map_err(GraphqlError::from)?.clone();
        let pool = ctx.data::<PgPool>()?.clone();
        let mut changes = ctx.data::<ChangeFeed>()?.subscribe();
        Ok(Box::pin(async_stream(slot, move |sender| async move {
            let mut seen = current_version(&pool, order_id).await.unwrap_or(0);
            loop {
                let change = tokio::select! {
                    () = sender.closed() => return,
                    change = changes.recv() => change,
                };
                let relevant = match change {
                    Ok(change) => change.may_touch("orders", order_id),
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return,
                };
                if !relevant {
                    continue;
                }
                let Ok(Some(row)) = load(&pool, "order_id = $1", order_id)
                    .await
                    .map(|rows| rows.into_iter().next())
                else {
                    continue;
                };
                // Another customer's order never changes, to a customer's token.
                if row.version > seen && caller.sees_customer(&row.customer_id) {
                    seen = row.version;
                    let Ok(order) = Order::from_row(row, None) else {
                        continue;
                    };
                    if sender.send(order).await.is_err() {
                        return;
                    }
                }
            }
        })))
    }

    /// Every order of the customer each time the orders read model commits a new version
    /// of it (new orders included).
    async fn orders_updated(
        &self,
        ctx: &Context<'_>,
        customer_id: String,
    ) -> async_graphql::Result<BoxStream<'static, Order>> {
        if customer_id.is_empty() {
            return Err(
                GraphqlError::from(ApiError::BadInput("`customerId` is empty".to_owned())).into(),
            );
        }
        if !access::sees(ctx, &customer_id).map_err(GraphqlError::from)? {
            return Err(GraphqlError::from(ApiError::Forbidden(
                "a token for one customer cannot follow another customer's orders".to_owned(),
            ))
            .into());
        }
        let slot = taken_slot(ctx)?;
        let pool = ctx.data::<PgPool>()?.clone();
        let mut changes = ctx.data::<ChangeFeed>()?.subscribe();
        Ok(Box::pin(async_stream(slot, move |sender| async move {
            let mut seen: HashMap<Uuid, i64> = HashMap::new();
            let mut since: DateTime<Utc> = Utc::now();
            loop {
                let change = tokio::select! {
                    () = sender.closed() => return,
                    change = changes.recv() => change,
                };
                let change = match change {
                    Ok(change) => change,
                    Err(RecvError::Lagged(_)) => std::sync::Arc::new(Change {
                        projection: "orders".to_owned(),
                        missed: true,
                        ..Change::default()
                    }),
                    Err(RecvError::Closed) => return,
                };
                if change.projection != "orders" && !change.projection.is_empty() {
                    continue;
                }
                let rows = if change.missed {
                    // Anything may have changed: re-read what changed since the last look.
                    let rows = load_since(&pool, &customer_id, since).await;
                    since = Utc::now() - chrono::Duration::seconds(1);
                    rows
                } else {
                    let ids: Vec<Uuid> = change.orders.iter().map(|(id, _)| *id).collect();
                    load_of_customer(&pool, &customer_id, &ids).await
                };
                for row in rows.unwrap_or_default() {
                    if seen.get(&row.order_id).is_some_and(|v| *v >= row.version) {
                        continue;
                    }
                    seen.insert(row.order_id, row.version);
                    let Ok(order) = Order::from_row(row, None) else {
                        continue;
                    };
                    if sender.send(order).await.is_err() {
                        return;
                    }
                }
            }
        })))
    }
}

/// The connection's subscription slot this subscription holds (none over plain HTTP).
fn taken_slot(ctx: &Context<'_>) -> async_graphql::Result<Option<Slot>> {
    ctx.data_opt::<Slots>()
        .map(Slots::take)
        .transpose()
        .map_err(|e| GraphqlError::from(e).into())
}

/// A stream fed by a task. The task ends when the subscriber goes away, whether or not
/// anything was ever sent (its loop waits on `sender.closed()` beside the change feed),
/// and gives its slot back then.
fn async_stream<F, Fut>(slot: Option<Slot>, produce: F) -> impl Stream<Item = Order>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Order>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let task = produce(sender);
    tokio::spawn(async move {
        let _open = OpenSubscription::new();
        task.await;
        drop(slot);
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// Counts a subscription's task in `orderlog_query_subscriptions_open` while it lives.
struct OpenSubscription;

impl OpenSubscription {
    fn new() -> Self {
        metrics::gauge!("orderlog_query_subscriptions_open").increment(1.0);
        Self
    }
}

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        metrics::gauge!("orderlog_query_subscriptions_open").decrement(1.0);
    }
}

async fn current_version(pool: &PgPool, order_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM orders WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(pool)
        .await
        .map(|v| v.unwrap_or(0))
}

async fn load(
    pool: &PgPool,
    condition: &'static str,
    order_id: Uuid,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {condition}");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_all(pool)
        .await
}

async fn load_of_customer(
    pool: &PgPool,
    customer_id: &str,
    ids: &[Uuid],
) -> Result<Vec<OrderRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ANY($1) AND customer_id = $2 ORDER BY last_event_at"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .bind(customer_id)
        .fetch_all(pool)
        .await
}

async fn load_since(
    pool: &PgPool,
    customer_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE customer_id = $1 AND last_event_at >= $2 ORDER BY last_event_at LIMIT 1000"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(customer_id)
        .bind(since)
        .fetch_all(pool)
        .await
}
