//! Sales reports: customer stats, daily sales and product sales. The projection keeps its
//! own facts per order (status, amounts, times, lines), locked and version-guarded, and
//! folds a batch over them. Each order's change adds to the reports the difference between
//! what its new facts and its stored facts contribute. A replayed event is skipped by the
//! version guard, so it contributes nothing: the reports stay exact, and a batch costs
//! what it touches, however many orders share a day, a customer or a SKU.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use schemas::{Event, EventEnvelope};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ApplyError, Poison, Step, by_order, step};

#[derive(Debug, Clone, sqlx::FromRow)]
struct Fact {
    order_id: Uuid,
    customer_id: String,
    currency: String,
    status: String,
    total_minor: i64,
    refund_due_minor: Option<i64>,
    placed_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    version: i64,
    #[sqlx(skip)]
    lines: Vec<(String, i32, i64)>,
}

/// What one order's facts add to each report row.
#[derive(Default)]
struct Deltas {
    /// (customer, currency) -> (orders, open orders, lifetime value, (first, last) placed at)
    customers: HashMap<(String, String), (i64, i64, i128, Option<(DateTime<Utc>, DateTime<Utc>)>)>,
    /// (day, currency) -> (orders placed, revenue, cancellations, refunds due)
    days: HashMap<(NaiveDate, String), (i64, i128, i64, i128)>,
    /// (sku, currency) -> (units, revenue)
    skus: HashMap<(String, String), (i64, i128)>,
}

impl Deltas {
    /// Adds `sign` times what `fact` contributes.
    fn add(&mut self, fact: &Fact, sign: i64) {
        let open = i64::from(matches!(
            fact.status.as_str(),
            "placed" | "paid" | "shipped"
        ));
        let earning = fact.paid_at.is_some() && fact.status != "cancelled";
        let value = if earning { fact.total_minor } else { 0 };
        let customer = self
            .customers
            .entry((fact.customer_id.clone(), fact.currency.clone()))
            .or_default();
        customer.0 += sign;
        customer.1 += sign * open;
        customer.2 += i128::from(sign * value);
        // Every order of the batch counts toward first and last, not only the latest one.
        let placed = fact.placed_at;
        customer.3 = Some(customer.3.map_or((placed, placed), |(first, last)| {
            (first.min(placed), last.max(placed))
        }));
        self.days
            .entry((fact.placed_at.date_naive(), fact.currency.clone()))
            .or_default()
            .0 += sign;
        if let (Some(paid_at), true) = (fact.paid_at, earning) {
            self.days
                .entry((paid_at.date_naive(), fact.currency.clone()))
                .or_default()
                .1 += i128::from(sign * fact.total_minor);
        }
        if let Some(cancelled_at) = fact.cancelled_at {
            let day = self
                .days
                .entry((cancelled_at.date_naive(), fact.currency.clone()))
                .or_default();
            day.2 += sign;
            day.3 += i128::from(sign * fact.refund_due_minor.unwrap_or(0));
        }
        if earning {
            for (sku, quantity, total) in &fact.lines {
                let product = self
                    .skus
                    .entry((sku.clone(), fact.currency.clone()))
                    .or_default();
                product.0 += sign * i64::from(*quantity);
                product.1 += i128::from(sign * total);
            }
        } else {
            for (sku, _, _) in &fact.lines {
                self.skus
                    .entry((sku.clone(), fact.currency.clone()))
                    .or_default();
            }
        }
    }
}

pub(super) async fn apply(
    tx: &mut PgConnection,
    events: &[&EventEnvelope],
) -> Result<Vec<(Uuid, u64)>, ApplyError> {
    let groups = by_order(events);
    let ids: Vec<Uuid> = groups.iter().map(|(id, _)| *id).collect();
    let mut facts = load(tx, &ids).await?;
    let mut deltas = Deltas::default();
    let mut changed = Vec::new();
    let mut updated = Vec::new();
    for (id, group) in groups {
        let mut fact = facts.remove(&id);
        let before = fact.as_ref().map_or(0, |f| f.version);
        let old = fact.clone();
        for event in group {
            if let Step::Apply = step(fact.as_ref().map_or(0, |f| f.version as u64), event)? {
                fact = Some(evolve(fact, event)?);
            }
        }
        if let Some(fact) = fact.filter(|f| f.version > before) {
            if let Some(old) = &old {
                deltas.add(old, -1);
            }
            deltas.add(&fact, 1);
            changed.push((id, fact.version as u64));
            updated.push(fact);
        }
    }
    if !updated.is_empty() {
        store(tx, &updated).await?;
        add_deltas(tx, &deltas).await?;
    }
    Ok(changed)
}

fn evolve(fact: Option<Fact>, event: &EventEnvelope) -> Result<Fact, Poison> {
    let at = event.occurred_at;
    let mut fact = match (fact, &event.event) {
        (None, Event::OrderPlaced(placed)) => Fact {
            order_id: event.order_id.as_uuid(),
            customer_id: placed.customer_id.to_string(),
            currency: placed.currency.to_string(),
            status: "placed".to_owned(),
            total_minor: placed.order_total.amount_minor(),
            refund_due_minor: None,
            placed_at: at,
            paid_at: None,
            cancelled_at: None,
            version: 0,
            lines: placed
                .lines
                .iter()
                .map(|l| {
                    (
                        l.sku.to_string(),
                        l.quantity.get() as i32,
                        l.line_total.amount_minor(),
                    )
                })
                .collect(),
        },
        (None, _) => return Err(Poison::of(event, "the order was never placed")),
        (Some(_), Event::OrderPlaced(_)) => {
            return Err(Poison::of(event, "the order was already placed"));
        }
        (Some(mut fact), Event::LineAdded(added)) => {
            let line = &added.line;
            fact.lines.push((
                line.sku.to_string(),
                line.quantity.get() as i32,
                line.line_total.amount_minor(),
            ));
            fact.total_minor = added.order_total.amount_minor();
            fact
        }
        (Some(mut fact), Event::LineRemoved(removed)) => {
            fact.lines
                .retain(|(sku, _, _)| sku != removed.line.sku.as_str());
            fact.total_minor = removed.order_total.amount_minor();
            fact
        }
        (Some(fact), Event::ShippingAddressChanged(_)) => fact,
        (Some(mut fact), Event::PaymentConfirmed(_)) => {
            fact.status = "paid".to_owned();
            fact.paid_at = Some(at);
            fact
        }
        (Some(mut fact), Event::OrderShipped(_)) => {
            fact.status = "shipped".to_owned();
            fact
        }
        (Some(mut fact), Event::OrderDelivered(_)) => {
            fact.status = "delivered".to_owned();
            fact
        }
        (Some(mut fact), Event::OrderExpired(_)) => {
            // No longer open, never earned.
            fact.status = "expired".to_owned();
            fact
        }
        (Some(fact), Event::ShipmentOverdue(_)) => fact,
        (Some(mut fact), Event::OrderCancelled(cancelled)) => {
            fact.status = "cancelled".to_owned();
            fact.cancelled_at = Some(at);
            fact.refund_due_minor = cancelled.refund_due.map(|m| m.amount_minor());
            fact
        }
    };
    fact.version = event.order_version as i64;
    Ok(fact)
}

async fn load(tx: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, Fact>, sqlx::Error> {
    let mut facts: HashMap<Uuid, Fact> = sqlx::query_as::<_, Fact>(
        "SELECT order_id, customer_id, currency, status, total_minor, refund_due_minor, placed_at, paid_at,
                cancelled_at, version
         FROM sales_orders WHERE order_id = ANY($1) FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|f| (f.order_id, f))
    .collect();
    if facts.is_empty() {
        return Ok(facts);
    }
    let lines: Vec<(Uuid, String, i32, i64)> =
        sqlx::query_as("SELECT order_id, sku, quantity, line_total_minor FROM sales_order_lines WHERE order_id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
    for (order_id, sku, quantity, total) in lines {
        if let Some(fact) = facts.get_mut(&order_id) {
            fact.lines.push((sku, quantity, total));
        }
    }
    Ok(facts)
}

async fn store(tx: &mut PgConnection, facts: &[Fact]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = facts.iter().map(|f| f.order_id).collect();
    sqlx::query(
        "INSERT INTO sales_orders (order_id, customer_id, currency, status, total_minor, refund_due_minor,
                                   placed_at, paid_at, cancelled_at, version)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[],
                              $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::int8[])
         ON CONFLICT (order_id) DO UPDATE SET
            status = EXCLUDED.status, total_minor = EXCLUDED.total_minor,
            refund_due_minor = EXCLUDED.refund_due_minor, paid_at = EXCLUDED.paid_at,
            cancelled_at = EXCLUDED.cancelled_at, version = EXCLUDED.version
         WHERE sales_orders.version < EXCLUDED.version",
    )
    .bind(&ids)
    .bind(facts.iter().map(|f| f.customer_id.as_str()).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.currency.as_str()).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.status.as_str()).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.total_minor).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.refund_due_minor).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.placed_at).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.paid_at).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.cancelled_at).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.version).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM sales_order_lines WHERE order_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    let lines: Vec<(Uuid, &(String, i32, i64))> = facts
        .iter()
        .flat_map(|f| f.lines.iter().map(|l| (f.order_id, l)))
        .collect();
    sqlx::query(
        "INSERT INTO sales_order_lines (order_id, sku, quantity, line_total_minor)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int4[], $4::int8[])",
    )
    .bind(lines.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.0.as_str()).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.1).collect::<Vec<_>>())
    .bind(lines.iter().map(|(_, l)| l.2).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn add_deltas(tx: &mut PgConnection, deltas: &Deltas) -> Result<(), sqlx::Error> {
    let customers: Vec<_> = deltas.customers.iter().collect();
    sqlx::query(
        "INSERT INTO customer_stats AS t (customer_id, currency, orders, open_orders, lifetime_value_minor, first_order_at, last_order_at)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[]::numeric[], $6::timestamptz[], $7::timestamptz[])
         ON CONFLICT (customer_id, currency) DO UPDATE SET
            orders = t.orders + EXCLUDED.orders, open_orders = t.open_orders + EXCLUDED.open_orders,
            lifetime_value_minor = t.lifetime_value_minor + EXCLUDED.lifetime_value_minor,
            first_order_at = least(t.first_order_at, EXCLUDED.first_order_at),
            last_order_at = greatest(t.last_order_at, EXCLUDED.last_order_at)",
    )
    .bind(customers.iter().map(|((c, _), _)| c.as_str()).collect::<Vec<_>>())
    .bind(customers.iter().map(|((_, k), _)| k.as_str()).collect::<Vec<_>>())
    .bind(customers.iter().map(|(_, d)| d.0).collect::<Vec<_>>())
    .bind(customers.iter().map(|(_, d)| d.1).collect::<Vec<_>>())
    .bind(customers.iter().map(|(_, d)| d.2.to_string()).collect::<Vec<_>>())
    .bind(customers.iter().map(|(_, d)| d.3.map(|(first, _)| first)).collect::<Vec<_>>())
    .bind(customers.iter().map(|(_, d)| d.3.map(|(_, last)| last)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;

    let days: Vec<_> = deltas.days.iter().collect();
    sqlx::query(
        "INSERT INTO daily_sales AS t (day, currency, orders_placed, revenue_minor, cancellations, refunds_due_minor)
         SELECT * FROM UNNEST($1::date[], $2::text[], $3::int8[], $4::text[]::numeric[], $5::int8[], $6::text[]::numeric[])
         ON CONFLICT (day, currency) DO UPDATE SET
            orders_placed = t.orders_placed + EXCLUDED.orders_placed,
            revenue_minor = t.revenue_minor + EXCLUDED.revenue_minor,
            cancellations = t.cancellations + EXCLUDED.cancellations,
            refunds_due_minor = t.refunds_due_minor + EXCLUDED.refunds_due_minor",
    )
    .bind(days.iter().map(|((d, _), _)| *d).collect::<Vec<_>>())
    .bind(days.iter().map(|((_, k), _)| k.as_str()).collect::<Vec<_>>())
    .bind(days.iter().map(|(_, d)| d.0).collect::<Vec<_>>())
    .bind(days.iter().map(|(_, d)| d.1.to_string()).collect::<Vec<_>>())
    .bind(days.iter().map(|(_, d)| d.2).collect::<Vec<_>>())
    .bind(days.iter().map(|(_, d)| d.3.to_string()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;

    let skus: Vec<_> = deltas.skus.iter().collect();
    sqlx::query(
        "INSERT INTO product_sales AS t (sku, currency, units, revenue_minor)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[]::numeric[])
         ON CONFLICT (sku, currency) DO UPDATE SET
            units = t.units + EXCLUDED.units, revenue_minor = t.revenue_minor + EXCLUDED.revenue_minor",
    )
    .bind(skus.iter().map(|((s, _), _)| s.as_str()).collect::<Vec<_>>())
    .bind(skus.iter().map(|((_, k), _)| k.as_str()).collect::<Vec<_>>())
    .bind(skus.iter().map(|(_, d)| d.0).collect::<Vec<_>>())
    .bind(skus.iter().map(|(_, d)| d.1.to_string()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
