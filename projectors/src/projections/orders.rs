//! The orders read model: one row per order with its lines, for lists and detail views.
//! A batch loads the rows it touches once, folds its events over them in memory, and
//! writes them back: new orders and all rewritten lines with binary `COPY`, orders stored
//! by earlier batches with one multi-row upsert.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use schemas::event::Line;
use schemas::{Event, EventEnvelope};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ApplyError, Poison, Step, by_order, step};
use crate::copy::{BinaryRows, COPY_FROM_ROWS, Jsonb};

#[derive(Debug, Clone, sqlx::FromRow)]
struct OrderRow {
    order_id: Uuid,
    customer_id: String,
    currency: String,
    status: String,
    total_minor: i64,
    shipping_address: serde_json::Value,
    payment_reference: Option<String>,
    paid_minor: Option<i64>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    cancel_reason: Option<String>,
    refund_due_minor: Option<i64>,
    placed_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    shipped_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    version: i64,
    last_event_at: DateTime<Utc>,
    line_count: i32,
    payment_due_at: Option<DateTime<Utc>>,
    ship_by: Option<DateTime<Utc>>,
    overdue: bool,
    expired_at: Option<DateTime<Utc>>,
    /// Loaded only when the batch changes them (see [`apply`]).
    #[sqlx(skip)]
    lines: Vec<LineRow>,
    /// The lines changed in this batch and must be rewritten.
    #[sqlx(skip)]
    lines_changed: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct LineRow {
    order_id: Uuid,
    sku: String,
    quantity: i32,
    unit_price_minor: i64,
    line_total_minor: i64,
}

impl LineRow {
    fn from(order_id: Uuid, line: &Line) -> Self {
        Self {
            order_id,
            sku: line.sku.to_string(),
            quantity: line.quantity.get() as i32,
            unit_price_minor: line.unit_price.amount_minor(),
            line_total_minor: line.line_total.amount_minor(),
        }
    }
}

pub(super) async fn apply(
    tx: &mut PgConnection,
    events: &[&EventEnvelope],
) -> Result<Vec<(Uuid, u64)>, ApplyError> {
    let groups = by_order(events);
    let ids: Vec<Uuid> = groups.iter().map(|(id, _)| *id).collect();
    // Most events (payment, shipment, ...) leave the lines alone: only orders with a line
    // event in the batch read and rewrite their lines.
    let with_lines: Vec<Uuid> = groups
        .iter()
        .filter(|(_, group)| group.iter().any(|e| changes_lines(&e.event)))
        .map(|(id, _)| *id)
        .collect();
    let mut rows = load(tx, &ids, &with_lines).await?;
    let existing: HashSet<Uuid> = rows.keys().copied().collect();
    let mut changed = Vec::new();
    let mut touched = Vec::new();
    for (id, group) in groups {
        let mut row = rows.remove(&id);
        let before = row.as_ref().map_or(0, |r| r.version);
        for event in group {
            let current = row.as_ref().map_or(0, |r| r.version as u64);
            if let Step::Apply = step(current, event)? {
                row = Some(evolve(row, event)?);
            }
        }
        if let Some(row) = row.filter(|r| r.version > before) {
            changed.push((id, row.version as u64));
            touched.push(row);
        }
    }
    if !touched.is_empty() {
        store(tx, &touched, &existing).await?;
    }
    Ok(changed)
}

fn changes_lines(event: &Event) -> bool {
    matches!(
        event,
        Event::OrderPlaced(_) | Event::LineAdded(_) | Event::LineRemoved(_)
    )
}

fn evolve(row: Option<OrderRow>, event: &EventEnvelope) -> Result<OrderRow, Poison> {
    let at = event.occurred_at;
    let id = event.order_id.as_uuid();
    let mut row = match (row, &event.event) {
        (None, Event::OrderPlaced(placed)) => OrderRow {
            order_id: id,
            customer_id: placed.customer_id.to_string(),
            currency: placed.currency.to_string(),
            status: "placed".to_owned(),
            total_minor: placed.order_total.amount_minor(),
            shipping_address: serde_json::to_value(&placed.shipping_address).unwrap_or_default(),
            payment_reference: None,
            paid_minor: None,
            carrier: None,
            tracking_number: None,
            cancel_reason: None,
            refund_due_minor: None,
            placed_at: at,
            paid_at: None,
            shipped_at: None,
            delivered_at: None,
            cancelled_at: None,
            version: 0,
            last_event_at: at,
            line_count: placed.lines.len() as i32,
            payment_due_at: placed.payment_due_at,
            ship_by: None,
            overdue: false,
            expired_at: None,
            lines: placed.lines.iter().map(|l| LineRow::from(id, l)).collect(),
            lines_changed: true,
        },
        (None, _) => return Err(Poison::of(event, "the order was never placed")),
        (Some(_), Event::OrderPlaced(_)) => {
            return Err(Poison::of(event, "the order was already placed"));
        }
        (Some(mut row), Event::LineAdded(added)) => {
            row.lines.push(LineRow::from(id, &added.line));
            row.line_count = row.lines.len() as i32;
            row.lines_changed = true;
            row.total_minor = added.order_total.amount_minor();
            row
        }
        (Some(mut row), Event::LineRemoved(removed)) => {
            row.lines.retain(|l| l.sku != removed.line.sku.as_str());
            row.line_count = row.lines.len() as i32;
            row.lines_changed = true;
            row.total_minor = removed.order_total.amount_minor();
            row
        }
        (Some(mut row), Event::ShippingAddressChanged(changed)) => {
            row.shipping_address =
                serde_json::to_value(&changed.shipping_address).unwrap_or_default();
            row
        }
        (Some(mut row), Event::PaymentConfirmed(paid)) => {
            row.status = "paid".to_owned();
            row.payment_reference = Some(paid.payment_reference.to_string());
            row.paid_minor = Some(paid.amount.amount_minor());
            row.paid_at = Some(at);
            row.ship_by = paid.ship_by;
            row
        }
        (Some(mut row), Event::OrderShipped(shipped)) => {
            row.status = "shipped".to_owned();
            row.carrier = Some(shipped.carrier.to_string());
            row.tracking_number = Some(shipped.tracking_number.to_string());
            row.shipped_at = Some(at);
            row
        }
        (Some(mut row), Event::OrderDelivered(_)) => {
            row.status = "delivered".to_owned();
            row.delivered_at = Some(at);
            row
        }
        (Some(mut row), Event::OrderCancelled(cancelled)) => {
            row.status = "cancelled".to_owned();
            row.cancel_reason = Some(cancelled.reason.to_string());
            row.refund_due_minor = cancelled.refund_due.map(|m| m.amount_minor());
            row.cancelled_at = Some(at);
            row
        }
        (Some(mut row), Event::OrderExpired(_)) => {
            row.status = "expired".to_owned();
            row.expired_at = Some(at);
            row
        }
        (Some(mut row), Event::ShipmentOverdue(_)) => {
            row.overdue = true;
            row
        }
    };
    row.version = event.order_version as i64;
    row.last_event_at = at;
    Ok(row)
}

/// The stored rows of `ids`, with the lines of those in `with_lines`.
async fn load(
    tx: &mut PgConnection,
    ids: &[Uuid],
    with_lines: &[Uuid],
) -> Result<HashMap<Uuid, OrderRow>, sqlx::Error> {
    let mut rows: HashMap<Uuid, OrderRow> = sqlx::query_as::<_, OrderRow>(
        "SELECT order_id, customer_id, currency, status, total_minor, shipping_address, payment_reference,
                paid_minor, carrier, tracking_number, cancel_reason, refund_due_minor, placed_at, paid_at,
                shipped_at, delivered_at, cancelled_at, version, last_event_at, line_count,
                payment_due_at, ship_by, overdue, expired_at
         FROM orders WHERE order_id = ANY($1) FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.order_id, row))
    .collect();
    // New orders have no stored lines: ask only for those of rows that exist.
    let with_lines: Vec<Uuid> = with_lines
        .iter()
        .filter(|id| rows.contains_key(id))
        .copied()
        .collect();
    if with_lines.is_empty() {
        return Ok(rows);
    }
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT order_id, sku, quantity, unit_price_minor, line_total_minor
         FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, position",
    )
    .bind(&with_lines)
    .fetch_all(&mut *tx)
    .await?;
    for line in lines {
        if let Some(row) = rows.get_mut(&line.order_id) {
            row.lines.push(line);
        }
    }
    Ok(rows)
}

/// Writes the rows and rewrites the lines that changed. Orders no earlier batch wrote
/// (not in `existing`, which the batch read under lock) are copied in; the others are
/// upserted. Only `existing` orders can have old lines.
async fn store(
    tx: &mut PgConnection,
    rows: &[OrderRow],
    existing: &HashSet<Uuid>,
) -> Result<(), sqlx::Error> {
    let (stored, new): (Vec<&OrderRow>, Vec<&OrderRow>) =
        rows.iter().partition(|r| existing.contains(&r.order_id));
    if new.len() >= COPY_FROM_ROWS {
        copy_new(tx, &new).await?;
    } else if !new.is_empty() {
        upsert(tx, &new).await?;
    }
    if !stored.is_empty() {
        upsert(tx, &stored).await?;
    }
    let rewritten: Vec<&OrderRow> = rows.iter().filter(|r| r.lines_changed).collect();
    let stale: Vec<Uuid> = rewritten
        .iter()
        .map(|r| r.order_id)
        .filter(|id| existing.contains(id))
        .collect();
    if !stale.is_empty() {
        sqlx::query("DELETE FROM order_lines WHERE order_id = ANY($1)")
            .bind(&stale)
            .execute(&mut *tx)
            .await?;
    }
    let line_count: usize = rewritten.iter().map(|r| r.lines.len()).sum();
    if line_count < COPY_FROM_ROWS {
        return insert_lines(tx, &rewritten).await;
    }
    let mut lines = BinaryRows::new(6);
    for row in rewritten {
        for (position, line) in row.lines.iter().enumerate() {
            lines
                .row()
                .field(line.order_id)
                .field(position as i32)
                .field(line.sku.as_str())
                .field(line.quantity)
                .field(line.unit_price_minor)
                .field(line.line_total_minor);
        }
    }
    if !lines.is_empty() {
        lines
            .copy_in(
                tx,
                "COPY order_lines (order_id, position, sku, quantity, unit_price_minor, line_total_minor)
                 FROM STDIN (FORMAT binary)",
            )
            .await?;
    }
    Ok(())
}

/// A few orders' lines in one statement ([`COPY_FROM_ROWS`]).
async fn insert_lines(tx: &mut PgConnection, rows: &[&OrderRow]) -> Result<(), sqlx::Error> {
    let lines: Vec<(i32, &LineRow)> = rows
        .iter()
        .flat_map(|r| r.lines.iter().enumerate())
        .map(|(position, line)| (position as i32, line))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_lines (order_id, position, sku, quantity, unit_price_minor, line_total_minor)
         SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::text[], $4::int4[], $5::int8[], $6::int8[])",
    )
    .bind(lines.iter().map(|(_, l)| l.order_id).collect::<Vec<_>>())
    .bind(lines.iter().map(|(p, _)| *p).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.sku.as_str()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.quantity).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.unit_price_minor).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.line_total_minor).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The columns of `orders` in the order both writers send them.
macro_rules! order_columns {
    () => {
        "order_id, customer_id, currency, status, total_minor, line_count, shipping_address,
         payment_reference, paid_minor, carrier, tracking_number, cancel_reason, refund_due_minor,
         placed_at, paid_at, shipped_at, delivered_at, cancelled_at, version, last_event_at,
         payment_due_at, ship_by, overdue, expired_at"
    };
}

async fn copy_new(tx: &mut PgConnection, rows: &[&OrderRow]) -> Result<(), sqlx::Error> {
    let mut copy = BinaryRows::new(24);
    for r in rows {
        copy.row()
            .field(r.order_id)
            .field(r.customer_id.as_str())
            .field(r.currency.as_str())
            .field(r.status.as_str())
            .field(r.total_minor)
            .field(r.line_count)
            .field(Jsonb(&r.shipping_address))
            .field(r.payment_reference.as_deref())
            .field(r.paid_minor)
            .field(r.carrier.as_deref())
            .field(r.tracking_number.as_deref())
            .field(r.cancel_reason.as_deref())
            .field(r.refund_due_minor)
            .field(r.placed_at)
            .field(r.paid_at)
            .field(r.shipped_at)
            .field(r.delivered_at)
            .field(r.cancelled_at)
            .field(r.version)
            .field(r.last_event_at)
            .field(r.payment_due_at)
            .field(r.ship_by)
            .field(r.overdue)
            .field(r.expired_at);
    }
    copy.copy_in(
        tx,
        concat!(
            "COPY orders (",
            order_columns!(),
            ") FROM STDIN (FORMAT binary)"
        ),
    )
    .await?;
    Ok(())
}

async fn upsert(tx: &mut PgConnection, rows: &[&OrderRow]) -> Result<(), sqlx::Error> {
    fn col<T>(rows: &[&OrderRow], f: impl Fn(&OrderRow) -> T) -> Vec<T> {
        rows.iter().map(|r| f(r)).collect()
    }
    let ids: Vec<Uuid> = col(rows, |r| r.order_id);
    sqlx::query(
        concat!("INSERT INTO orders (", order_columns!(), ")
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int4[], $7::jsonb[],
                              $8::text[], $9::int8[], $10::text[], $11::text[], $12::text[], $13::int8[],
                              $14::timestamptz[], $15::timestamptz[], $16::timestamptz[], $17::timestamptz[],
                              $18::timestamptz[], $19::int8[], $20::timestamptz[], $21::timestamptz[],
                              $22::timestamptz[], $23::bool[], $24::timestamptz[])
         ON CONFLICT (order_id) DO UPDATE SET
            status = EXCLUDED.status, total_minor = EXCLUDED.total_minor, line_count = EXCLUDED.line_count,
            shipping_address = EXCLUDED.shipping_address, payment_reference = EXCLUDED.payment_reference,
            paid_minor = EXCLUDED.paid_minor, carrier = EXCLUDED.carrier, tracking_number = EXCLUDED.tracking_number,
            cancel_reason = EXCLUDED.cancel_reason, refund_due_minor = EXCLUDED.refund_due_minor,
            paid_at = EXCLUDED.paid_at, shipped_at = EXCLUDED.shipped_at, delivered_at = EXCLUDED.delivered_at,
            cancelled_at = EXCLUDED.cancelled_at, version = EXCLUDED.version, last_event_at = EXCLUDED.last_event_at,
            payment_due_at = EXCLUDED.payment_due_at, ship_by = EXCLUDED.ship_by, overdue = EXCLUDED.overdue,
            expired_at = EXCLUDED.expired_at
         WHERE orders.version < EXCLUDED.version"),
    )
    .bind(&ids)
    .bind(rows.iter().map(|r| r.customer_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.currency.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
    .bind(col(rows, |r| r.total_minor))
    .bind(col(rows, |r| r.line_count))
    .bind(rows.iter().map(|r| r.shipping_address.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.payment_reference.clone()).collect::<Vec<_>>())
    .bind(col(rows, |r| r.paid_minor))
    .bind(rows.iter().map(|r| r.carrier.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.tracking_number.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.cancel_reason.clone()).collect::<Vec<_>>())
    .bind(col(rows, |r| r.refund_due_minor))
    .bind(col(rows, |r| r.placed_at))
    .bind(col(rows, |r| r.paid_at))
    .bind(col(rows, |r| r.shipped_at))
    .bind(col(rows, |r| r.delivered_at))
    .bind(col(rows, |r| r.cancelled_at))
    .bind(col(rows, |r| r.version))
    .bind(col(rows, |r| r.last_event_at))
    .bind(col(rows, |r| r.payment_due_at))
    .bind(col(rows, |r| r.ship_by))
    .bind(col(rows, |r| r.overdue))
    .bind(col(rows, |r| r.expired_at))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
