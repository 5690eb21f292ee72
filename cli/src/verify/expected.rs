//! The read models the log implies: each order folded with the domain's `evolve` (the
//! processors' own code, not the projectors'), then laid out as the projectors' tables.
//! Every table is rendered as rows of field -> text, so comparing is plain and printable.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use schemas::order::{Status, evolve};
use schemas::{Event, EventEnvelope, OrderState};
use serde_json::Value;
use uuid::Uuid;

/// key -> field -> value, for one table.
pub type Table = BTreeMap<String, BTreeMap<&'static str, String>>;

pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// JSON with object keys sorted, so two equal documents render the same.
pub fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let fields: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::String((*k).clone())))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// Lines as one comparable text: `sku x quantity @ unit = total` in position order.
pub fn lines_text(lines: &[(String, i64, i64, i64)]) -> String {
    lines
        .iter()
        .map(|(sku, q, unit, total)| format!("{sku} x {q} @ {unit} = {total}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One order folded so far, with what the state does not keep: when things happened.
#[derive(Debug, Clone, Default)]
struct Folded {
    state: OrderState,
    placed_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    shipped_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    cancel_reason: Option<String>,
    last_event_at: Option<DateTime<Utc>>,
}

/// A problem with the log itself (an event that cannot follow its order's state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogProblem {
    pub order_id: Uuid,
    pub reason: String,
}

/// Orders folded from events, applied in log order.
#[derive(Debug, Default)]
pub struct Fold {
    orders: HashMap<Uuid, Folded>,
    pub problems: Vec<LogProblem>,
}

impl Fold {
    pub fn apply(&mut self, envelope: &EventEnvelope) {
        let id = envelope.order_id.as_uuid();
        let folded = self.orders.entry(id).or_default();
        if envelope.order_version <= folded.state.version() {
            return; // a duplicate: the projections skip it as well
        }
        match evolve(folded.state.clone(), &envelope.event) {
            Ok(state) => folded.state = state,
            Err(error) => {
                self.problems.push(LogProblem {
                    order_id: id,
                    reason: error.to_string(),
                });
                return;
            }
        }
        let at = Some(envelope.occurred_at);
        match &envelope.event {
            Event::OrderPlaced(_) => folded.placed_at = at,
            Event::PaymentConfirmed(_) => folded.paid_at = at,
            Event::OrderShipped(_) => folded.shipped_at = at,
            Event::OrderDelivered(_) => folded.delivered_at = at,
            Event::OrderCancelled(cancelled) => {
                folded.cancelled_at = at;
                folded.cancel_reason = serde_json::to_value(&cancelled.reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned));
            }
            _ => {}
        }
        folded.last_event_at = at;
    }

    fn placed(&self) -> impl Iterator<Item = (&Uuid, &Folded, &schemas::order::Order)> {
        self.orders
            .iter()
            .filter_map(|(id, f)| f.state.order().map(|order| (id, f, order)))
    }

    /// The `orders` table, with each order's lines as a `lines` field.
    pub fn orders(&self) -> Table {
        self.placed()
            .map(|(id, f, order)| {
                let lines: Vec<(String, i64, i64, i64)> = order
                    .lines
                    .iter()
                    .map(|l| {
                        (
                            l.sku.to_string(),
                            i64::from(l.quantity.get()),
                            l.unit_price.amount_minor(),
                            l.line_total.amount_minor(),
                        )
                    })
                    .collect();
                let address = serde_json::to_value(&order.shipping_address).unwrap_or_default();
                let row = BTreeMap::from([
                    ("customer_id", order.customer_id.to_string()),
                    ("currency", order.currency.to_string()),
                    ("status", order.status.as_str().to_owned()),
                    ("total_minor", order.total.amount_minor().to_string()),
                    ("line_count", order.lines.len().to_string()),
                    ("shipping_address", canonical(&address)),
                    (
                        "payment_reference",
                        optional(order.payment.as_ref().map(|p| p.reference.to_string())),
                    ),
                    (
                        "paid_minor",
                        optional(order.payment.as_ref().map(|p| p.amount.amount_minor())),
                    ),
                    (
                        "carrier",
                        optional(order.shipment.as_ref().map(|s| s.carrier.to_string())),
                    ),
                    (
                        "tracking_number",
                        optional(
                            order
                                .shipment
                                .as_ref()
                                .map(|s| s.tracking_number.to_string()),
                        ),
                    ),
                    ("cancel_reason", optional(f.cancel_reason.clone())),
                    (
                        "refund_due_minor",
                        optional(order.refund_due.as_ref().map(|m| m.amount_minor())),
                    ),
                    ("placed_at", optional(f.placed_at.map(time))),
                    ("paid_at", optional(f.paid_at.map(time))),
                    ("shipped_at", optional(f.shipped_at.map(time))),
                    ("delivered_at", optional(f.delivered_at.map(time))),
                    ("cancelled_at", optional(f.cancelled_at.map(time))),
                    ("version", f.state.version().to_string()),
                    ("last_event_at", optional(f.last_event_at.map(time))),
                    ("lines", lines_text(&lines)),
                ]);
                (id.to_string(), row)
            })
            .collect()
    }

    /// `customer_stats`, `daily_sales` and `product_sales`, as the sales projection keeps
    /// them: value counts only for orders paid and not cancelled.
    pub fn sales(&self) -> (Table, Table, Table) {
        let mut customers: BTreeMap<(String, String), (i64, i64, i128, String, String)> =
            BTreeMap::new();
        let mut days: BTreeMap<(String, String), [i128; 4]> = BTreeMap::new();
        let mut products: BTreeMap<(String, String), (i64, i128)> = BTreeMap::new();
        for (_, f, order) in self.placed() {
            let currency = order.currency.to_string();
            let placed_at = f.placed_at.map(time).unwrap_or_default();
            let open = i64::from(!order.status.is_terminal());
            let earning = f.paid_at.is_some() && order.status != Status::Cancelled;
            let value = if earning {
                order.total.amount_minor()
            } else {
                0
            };
            let c = customers
                .entry((order.customer_id.to_string(), currency.clone()))
                .or_insert_with(|| (0, 0, 0, placed_at.clone(), placed_at.clone()));
            c.0 += 1;
            c.1 += open;
            c.2 += i128::from(value);
            c.3 = c.3.clone().min(placed_at.clone());
            c.4 = c.4.clone().max(placed_at);
            let day = |at: DateTime<Utc>| at.date_naive().to_string();
            if let Some(placed) = f.placed_at {
                days.entry((day(placed), currency.clone())).or_default()[0] += 1;
            }
            if let (Some(paid), true) = (f.paid_at, earning) {
                days.entry((day(paid), currency.clone())).or_default()[1] +=
                    i128::from(order.total.amount_minor());
            }
            if let Some(cancelled) = f.cancelled_at {
                let d = days.entry((day(cancelled), currency.clone())).or_default();
                d[2] += 1;
                d[3] += i128::from(order.refund_due.as_ref().map_or(0, |m| m.amount_minor()));
            }
            if earning {
                for line in &order.lines {
                    let p = products
                        .entry((line.sku.to_string(), currency.clone()))
                        .or_default();
                    p.0 += i64::from(line.quantity.get());
                    p.1 += i128::from(line.line_total.amount_minor());
                }
            }
        }
        let customers = customers
            .into_iter()
            .map(
                |((customer, currency), (orders, open, value, first, last))| {
                    let row = BTreeMap::from([
                        ("orders", orders.to_string()),
                        ("open_orders", open.to_string()),
                        ("lifetime_value_minor", value.to_string()),
                        ("first_order_at", first),
                        ("last_order_at", last),
                    ]);
                    (format!("{customer}/{currency}"), row)
                },
            )
            .collect();
        let days = days
            .into_iter()
            .map(|((day, currency), v)| (format!("{day}/{currency}"), day_row(v)))
            .collect();
        let products = products
            .into_iter()
            .map(|((sku, currency), (units, revenue))| {
                (format!("{sku}/{currency}"), product_row(units, revenue))
            })
            .collect();
        (customers, days, products)
    }
}

pub fn day_row(
    [placed, revenue, cancellations, refunds]: [i128; 4],
) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("orders_placed", placed.to_string()),
        ("revenue_minor", revenue.to_string()),
        ("cancellations", cancellations.to_string()),
        ("refunds_due_minor", refunds.to_string()),
    ])
}

pub fn product_row(units: i64, revenue: i128) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("units", units.to_string()),
        ("revenue_minor", revenue.to_string()),
    ])
}

/// The `order_timeline` table: one row per (order, version).
pub fn timeline_row(envelope: &EventEnvelope) -> (String, BTreeMap<&'static str, String>) {
    (
        format!("{}/{}", envelope.order_id, envelope.order_version),
        BTreeMap::from([
            ("event_id", envelope.event_id.to_string()),
            ("event_type", envelope.event.type_name().to_owned()),
            ("occurred_at", time(envelope.occurred_at)),
        ]),
    )
}
