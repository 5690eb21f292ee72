//! `orderlog verify`: the platform's consistency checker.
//!
//! In one read-only, repeatable-read snapshot of PostgreSQL it reads every projection's
//! stored offsets and its tables; it folds the log, giving each projection exactly the
//! events below its own offsets; and it compares. So it is exact even while the projectors
//! keep applying events. It also checks the log itself ([`log`]): the whole committed log
//! and the command results.

pub mod compare;
pub mod expected;
pub mod log;

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, bail};
use chrono::{DateTime, NaiveDate, Utc};
use event_store::wire::decode_event;
use rdkafka::Message;
use sqlx::postgres::{PgConnectOptions, PgRow};
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use uuid::Uuid;

use crate::Context;
use crate::scan::{Log, PartitionRange};
use compare::{Difference, compare};
use expected::{
    Fold, Table, canonical, day_row, lines_text, optional, product_row, time, timeline_row,
};

const PROJECTIONS: [&str; 3] = ["orders", "timeline", "sales"];

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Report {
    pub events: u64,
    pub orders: usize,
    pub differences: Vec<Difference>,
}

/// Each projection's stored next offset per partition.
type Offsets = HashMap<&'static str, HashMap<i32, i64>>;

pub async fn run(ctx: &Context, database_url: &str) -> anyhow::Result<Report> {
    let options: PgConnectOptions = database_url
        .parse()
        .context("ORDERLOG_DATABASE_URL is not a PostgreSQL URL")?;
    let mut db = options
        .connect()
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(database_url)))?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut db)
        .await?;
    let log = Log::open(&ctx.kafka, ctx.timeout)?;
    let offsets = stored_offsets(&mut db, &log.topic).await?;
    let actual = Actual::load(&mut db).await?;
    sqlx::query("COMMIT").execute(&mut db).await?;
    db.close().await?;

    // The results first: every event an accepted result names is then in the events read.
    let mut log_check = log::LogCheck::default();
    let results = event_store::TopicSet::new(&ctx.kafka.topic_prefix).results;
    for p in &log.partitions {
        event_store::read_to_end::<std::convert::Infallible>(
            &ctx.kafka,
            &results,
            *p,
            event_store::Start::Beginning,
            |message| {
                let parsed = message
                    .payload()
                    .and_then(|value| serde_json::from_slice::<schemas::CommandResult>(value).ok());
                if let Some(result) = parsed {
                    log_check.result(&result);
                }
                Ok(())
            },
        )
        .map_err(|e| anyhow::anyhow!("reading {results} partition {p}: {e}"))?;
    }

    // The whole log for its own checks; each projection compared up to its stored offset.
    let mut ranges: Vec<PartitionRange> = Vec::new();
    for p in &log.partitions {
        let (low, high) = log.watermarks(*p)?;
        let end = offsets
            .values()
            .filter_map(|o| o.get(p))
            .copied()
            .max()
            .unwrap_or(low);
        if end > high {
            bail!(
                "the projections have applied up to offset {end} of {} partition {p}, past its end ({high}): is --topic-prefix right?",
                log.topic
            );
        }
        ranges.push(PartitionRange {
            partition: *p,
            start: low,
            emit_from: low,
            end: Some(high.max(end)),
        });
    }
    let cutoff = |projection: &str, partition: i32| {
        offsets
            .get(projection)
            .and_then(|o| o.get(&partition))
            .copied()
            .unwrap_or(0)
    };
    let (mut orders, mut sales) = (Fold::default(), Fold::default());
    let mut timeline = Table::new();
    let mut report = Report::default();
    log.read_to_end(&ranges, |message| {
        report.events += 1;
        let (partition, offset) = (message.partition(), message.offset());
        let Ok(envelope) = decode_event(message) else {
            return Ok(()); // unreadable: the projections dead-letter it
        };
        log_check.event(&envelope);
        if offset < cutoff("orders", partition) {
            orders.apply(&envelope);
        }
        if offset < cutoff("sales", partition) {
            sales.apply(&envelope);
        }
        if offset < cutoff("timeline", partition) {
            let (key, row) = timeline_row(&envelope);
            timeline.entry(key).or_insert(row);
        }
        Ok(())
    })?;
    let expected_orders = orders.orders();
    report.orders = expected_orders.len();
    let (customers, days, products) = sales.sales();
    let mut differences = compare("orders", &expected_orders, &actual.orders, None);
    differences.extend(compare("order_timeline", &timeline, &actual.timeline, None));
    differences.extend(compare(
        "customer_stats",
        &customers,
        &actual.customers,
        None,
    ));
    differences.extend(compare(
        "daily_sales",
        &days,
        &actual.days,
        Some(&day_row([0; 4])),
    ));
    differences.extend(compare(
        "product_sales",
        &products,
        &actual.products,
        Some(&product_row(0, 0)),
    ));
    for problem in orders.problems.iter().chain(&sales.problems) {
        differences.push(Difference {
            model: "log",
            key: problem.order_id.to_string(),
            field: "(fold)".to_owned(),
            expected: "events that fold".to_owned(),
            actual: problem.reason.clone(),
        });
    }
    differences.extend(log_check.finish());
    report.differences = differences;
    Ok(report)
}

/// A sum of minor units as PostgreSQL's `numeric` prints it.
fn sum(text: &str) -> anyhow::Result<i128> {
    text.parse()
        .with_context(|| format!("a sum of money that is not a whole number: {text}"))
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

async fn stored_offsets(db: &mut PgConnection, topic: &str) -> anyhow::Result<Offsets> {
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT projection, partition, next_offset FROM projection_offsets WHERE topic = $1",
    )
    .bind(topic)
    .fetch_all(&mut *db)
    .await
    .context("reading projection_offsets (have the projectors run against this database?)")?;
    let mut offsets = Offsets::new();
    for (projection, partition, next) in rows {
        if let Some(name) = PROJECTIONS.iter().find(|p| **p == projection) {
            offsets.entry(name).or_default().insert(partition, next);
        }
    }
    Ok(offsets)
}

/// The read models as PostgreSQL holds them, rendered like [`expected`].
#[derive(Debug, Default)]
struct Actual {
    orders: Table,
    timeline: Table,
    customers: Table,
    days: Table,
    products: Table,
}

fn text(row: &PgRow, column: &str) -> anyhow::Result<String> {
    Ok(row.try_get::<String, _>(column)?)
}

fn optional_text(row: &PgRow, column: &str) -> anyhow::Result<String> {
    Ok(optional(row.try_get::<Option<String>, _>(column)?))
}

fn number(row: &PgRow, column: &str) -> anyhow::Result<String> {
    Ok(row.try_get::<i64, _>(column)?.to_string())
}

fn optional_number(row: &PgRow, column: &str) -> anyhow::Result<String> {
    Ok(optional(row.try_get::<Option<i64>, _>(column)?))
}

fn at(row: &PgRow, column: &str) -> anyhow::Result<String> {
    Ok(optional(
        row.try_get::<Option<DateTime<Utc>>, _>(column)?.map(time),
    ))
}

impl Actual {
    async fn load(db: &mut PgConnection) -> anyhow::Result<Self> {
        let mut lines: HashMap<Uuid, Vec<(String, i64, i64, i64)>> = HashMap::new();
        let rows: Vec<(Uuid, String, i32, i64, i64)> = sqlx::query_as(
            "SELECT order_id, sku, quantity, unit_price_minor, line_total_minor FROM order_lines ORDER BY order_id, position",
        )
        .fetch_all(&mut *db)
        .await?;
        for (id, sku, quantity, unit, total) in rows {
            lines
                .entry(id)
                .or_default()
                .push((sku, i64::from(quantity), unit, total));
        }
        let mut actual = Actual::default();
        let rows = sqlx::query(
            "SELECT order_id, customer_id, currency::text AS currency, status, total_minor, line_count, shipping_address,
                    payment_reference, paid_minor, carrier, tracking_number, cancel_reason, refund_due_minor,
                    placed_at, paid_at, shipped_at, delivered_at, cancelled_at, version, last_event_at
             FROM orders",
        )
        .fetch_all(&mut *db)
        .await?;
        for row in rows {
            let id: Uuid = row.try_get("order_id")?;
            let address: serde_json::Value = row.try_get("shipping_address")?;
            let fields = BTreeMap::from([
                ("customer_id", text(&row, "customer_id")?),
                ("currency", text(&row, "currency")?),
                ("status", text(&row, "status")?),
                ("total_minor", number(&row, "total_minor")?),
                (
                    "line_count",
                    row.try_get::<i32, _>("line_count")?.to_string(),
                ),
                ("shipping_address", canonical(&address)),
                (
                    "payment_reference",
                    optional_text(&row, "payment_reference")?,
                ),
                ("paid_minor", optional_number(&row, "paid_minor")?),
                ("carrier", optional_text(&row, "carrier")?),
                ("tracking_number", optional_text(&row, "tracking_number")?),
                ("cancel_reason", optional_text(&row, "cancel_reason")?),
                (
                    "refund_due_minor",
                    optional_number(&row, "refund_due_minor")?,
                ),
                ("placed_at", at(&row, "placed_at")?),
                ("paid_at", at(&row, "paid_at")?),
                ("shipped_at", at(&row, "shipped_at")?),
                ("delivered_at", at(&row, "delivered_at")?),
                ("cancelled_at", at(&row, "cancelled_at")?),
                ("version", number(&row, "version")?),
                ("last_event_at", at(&row, "last_event_at")?),
                (
                    "lines",
                    lines_text(lines.get(&id).map_or(&[][..], Vec::as_slice)),
                ),
            ]);
            actual.orders.insert(id.to_string(), fields);
        }
        let rows: Vec<(Uuid, i64, Uuid, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT order_id, version, event_id, event_type, occurred_at FROM order_timeline",
        )
        .fetch_all(&mut *db)
        .await?;
        for (order, version, event_id, event_type, occurred_at) in rows {
            let fields = BTreeMap::from([
                ("event_id", event_id.to_string()),
                ("event_type", event_type),
                ("occurred_at", time(occurred_at)),
            ]);
            actual.timeline.insert(format!("{order}/{version}"), fields);
        }
        let rows: Vec<(String, String, i64, i64, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT customer_id, currency::text, orders, open_orders, lifetime_value_minor::text, first_order_at, last_order_at
             FROM customer_stats",
        )
        .fetch_all(&mut *db)
        .await?;
        for (customer, currency, orders, open, value, first, last) in rows {
            let fields = BTreeMap::from([
                ("orders", orders.to_string()),
                ("open_orders", open.to_string()),
                ("lifetime_value_minor", value.to_string()),
                ("first_order_at", time(first)),
                ("last_order_at", time(last)),
            ]);
            actual
                .customers
                .insert(format!("{customer}/{currency}"), fields);
        }
        let rows: Vec<(NaiveDate, String, i64, String, i64, String)> = sqlx::query_as(
            "SELECT day, currency::text, orders_placed, revenue_minor::text, cancellations, refunds_due_minor::text FROM daily_sales",
        )
        .fetch_all(&mut *db)
        .await?;
        for (day, currency, placed, revenue, cancellations, refunds) in rows {
            actual.days.insert(
                format!("{day}/{currency}"),
                day_row([
                    i128::from(placed),
                    sum(&revenue)?,
                    i128::from(cancellations),
                    sum(&refunds)?,
                ]),
            );
        }
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT sku, currency::text, units, revenue_minor::text FROM product_sales",
        )
        .fetch_all(&mut *db)
        .await?;
        for (sku, currency, units, revenue) in rows {
            actual.products.insert(
                format!("{sku}/{currency}"),
                product_row(units, sum(&revenue)?),
            );
        }
        Ok(actual)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://orderlog:secret@db:5432/orderlog"),
            "postgres://orderlog@db:5432/orderlog"
        );
        assert_eq!(redact("postgres://db/orderlog"), "postgres://db/orderlog");
    }
}
