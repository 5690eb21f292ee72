//! The exported datasets and their columns: `envelope` (every event's envelope) and one per
//! event type, named by its short type (`placed`, `payment_confirmed`, ...). Money is integer
//! minor units beside its currency, times are UTC microseconds, an order's lines a list of
//! structs. Each column says the schema version of its event type that brought it, so a
//! file written at an older version is the same schema without the later columns.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use schemas::event::{EVENT_TYPES, Event, ExpiryCause, Line};
use schemas::values::{Address, Money};

use super::columns::{Cursor, utc_micros};

/// The dataset of every event's envelope.
pub const ENVELOPE: &str = "envelope";

const TYPE_PREFIX: &str = "dev.orderlog.order.";

/// One column and the schema version of its event type that added it.
struct Column {
    field: Field,
    since: u32,
}

fn col(name: &str, data_type: DataType, nullable: bool) -> Column {
    Column {
        field: Field::new(name, data_type, nullable),
        since: 1,
    }
}

fn since(version: u32, column: Column) -> Column {
    Column {
        since: version,
        ..column
    }
}

fn text(name: &str) -> Column {
    col(name, DataType::Utf8, false)
}

fn int(name: &str) -> Column {
    col(name, DataType::Int64, false)
}

pub(super) fn address_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("line1", DataType::Utf8, false),
        Field::new("line2", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, false),
        Field::new("postal_code", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, false),
    ]))
}

fn line_fields() -> Vec<Column> {
    vec![
        text("sku"),
        int("quantity"),
        int("unit_price_minor"),
        int("line_total_minor"),
        text("currency"),
    ]
}

pub(super) fn lines_type() -> DataType {
    let fields: Vec<Field> = line_fields().into_iter().map(|c| c.field).collect();
    DataType::List(Arc::new(Field::new(
        "item",
        DataType::Struct(Fields::from(fields)),
        false,
    )))
}

/// The columns every per-type dataset starts with: which event, when, of which order and
/// customer, and where it sits in Kafka.
fn keys() -> Vec<Column> {
    vec![
        text("event_id"),
        col("time", utc_micros(), false),
        text("order_id"),
        col("customer_id", DataType::Utf8, true),
        int("order_version"),
        col("partition", DataType::Int32, false),
        int("offset"),
    ]
}

fn envelope_columns() -> Vec<Column> {
    vec![
        text("event_id"),
        text("type"),
        col("time", utc_micros(), false),
        text("order_id"),
        col("customer_id", DataType::Utf8, true),
        int("order_version"),
        col("schema_version", DataType::Int32, false),
        text("correlation_id"),
        text("causation_id"),
        col("traceparent", DataType::Utf8, true),
        col("partition", DataType::Int32, false),
        int("offset"),
    ]
}

/// The columns of an event type's own data, after [`keys`].
fn data_columns(short: &str) -> Vec<Column> {
    match short {
        "placed" => vec![
            text("currency"),
            col("lines", lines_type(), false),
            col("shipping_address", address_type(), false),
            int("order_total_minor"),
            since(2, col("payment_due_at", utc_micros(), true)),
        ],
        "line_added" | "line_removed" => {
            let mut columns = line_fields();
            columns.push(int("order_total_minor"));
            columns
        }
        "shipping_address_changed" => vec![col("shipping_address", address_type(), false)],
        "payment_confirmed" => vec![
            text("payment_reference"),
            int("amount_minor"),
            text("currency"),
            since(3, col("ship_by", utc_micros(), true)),
        ],
        "shipped" => vec![text("carrier"), text("tracking_number")],
        "cancelled" => vec![
            text("reason"),
            col("refund_due_minor", DataType::Int64, true),
            col("refund_currency", DataType::Utf8, true),
        ],
        "expired" => vec![text("cause"), col("payment_due_at", utc_micros(), false)],
        "shipment_overdue" => vec![col("ship_by", utc_micros(), false)],
        _ => vec![],
    }
}

/// One dataset: its directory name, and the event type it holds (none for the envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub name: &'static str,
    pub event_type: Option<&'static str>,
}

/// The envelope dataset, then one per event type in lifecycle order.
pub fn all() -> Vec<Dataset> {
    std::iter::once(Dataset {
        name: ENVELOPE,
        event_type: None,
    })
    .chain(EVENT_TYPES.iter().map(|(t, _)| Dataset {
        name: short_name(t),
        event_type: Some(t),
    }))
    .collect()
}

/// `dev.orderlog.order.placed` -> `placed`.
pub fn short_name(event_type: &'static str) -> &'static str {
    event_type.strip_prefix(TYPE_PREFIX).unwrap_or(event_type)
}

impl Dataset {
    /// The dataset of `event_type`.
    pub fn of(event_type: &str) -> Option<Dataset> {
        all().into_iter().find(|d| d.event_type == Some(event_type))
    }

    pub fn by_name(name: &str) -> Option<Dataset> {
        all().into_iter().find(|d| d.name == name)
    }

    /// The version its files are written at by this build: the event type's current
    /// schema version (the envelope's is 1).
    pub fn current_version(&self) -> u32 {
        self.event_type
            .and_then(|t| EVENT_TYPES.iter().find(|(name, _)| *name == t))
            .map_or(1, |(_, v)| *v)
    }

    fn columns(&self) -> Vec<Column> {
        match self.event_type {
            None => envelope_columns(),
            Some(t) => {
                let mut columns = keys();
                columns.extend(data_columns(short_name(t)));
                columns
            }
        }
    }

    /// The Arrow schema of its files at `version` of its event type.
    pub fn schema(&self, version: u32) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns()
            .into_iter()
            .filter(|c| c.since <= version)
            .map(|c| c.field)
            .collect();
        Arc::new(Schema::new(fields))
    }
}

/// What a row is made of: the event with its envelope, its customer, its place in Kafka.
pub struct Row<'a> {
    pub envelope: &'a schemas::EventEnvelope,
    pub customer: Option<&'a str>,
    pub partition: i32,
    pub offset: i64,
}

/// The event's ids as text, formatted once for both of its rows.
struct Ids {
    event: [u8; 36],
    order: [u8; 36],
}

fn hyphenated(id: uuid::Uuid) -> [u8; 36] {
    let mut text = [0u8; 36];
    id.hyphenated().encode_lower(&mut text);
    text
}

fn text_of(bytes: &[u8; 36]) -> &str {
    // Hyphenated lower-case hex is ASCII.
    std::str::from_utf8(bytes).unwrap_or_default()
}

impl Row<'_> {
    fn ids(&self) -> Ids {
        Ids {
            event: hyphenated(self.envelope.event_id),
            order: hyphenated(self.envelope.order_id.as_uuid()),
        }
    }

    fn version(&self) -> i64 {
        i64::try_from(self.envelope.order_version).unwrap_or(i64::MAX)
    }

    /// The envelope dataset's row.
    pub fn envelope(&self, r: &mut Cursor<'_>) {
        let e = self.envelope;
        let ids = self.ids();
        let (correlation, causation) = (hyphenated(e.correlation_id), hyphenated(e.causation_id));
        r.text(Some(text_of(&ids.event)))
            .text(Some(e.event.type_name()))
            .time(Some(e.occurred_at))
            .text(Some(text_of(&ids.order)))
            .text(self.customer)
            .int(Some(self.version()))
            .small(i32::try_from(e.event.schema_version()).unwrap_or(i32::MAX))
            .text(Some(text_of(&correlation)))
            .text(Some(text_of(&causation)))
            .text(e.traceparent.as_deref())
            .small(self.partition)
            .int(Some(self.offset));
    }

    /// The row of the event's own dataset, at `version` of its type.
    pub fn data(&self, r: &mut Cursor<'_>, version: u32) {
        let e = self.envelope;
        let ids = self.ids();
        r.text(Some(text_of(&ids.event)))
            .time(Some(e.occurred_at))
            .text(Some(text_of(&ids.order)))
            .text(self.customer)
            .int(Some(self.version()))
            .small(self.partition)
            .int(Some(self.offset));
        match &e.event {
            Event::OrderPlaced(placed) => {
                r.text(Some(placed.currency.as_str()))
                    .list(&placed.lines, line)
                    .group(|a| address(a, &placed.shipping_address))
                    .int(Some(placed.order_total.amount_minor()));
                if version >= 2 {
                    r.time(placed.payment_due_at);
                }
            }
            Event::LineAdded(changed) => {
                line(r, &changed.line);
                r.int(Some(changed.order_total.amount_minor()));
            }
            Event::LineRemoved(changed) => {
                line(r, &changed.line);
                r.int(Some(changed.order_total.amount_minor()));
            }
            Event::ShippingAddressChanged(changed) => {
                r.group(|a| address(a, &changed.shipping_address));
            }
            Event::PaymentConfirmed(paid) => {
                r.text(Some(paid.payment_reference.as_str()));
                money(r, &paid.amount);
                if version >= 3 {
                    r.time(paid.ship_by);
                }
            }
            Event::OrderShipped(shipped) => {
                r.text(Some(shipped.carrier.as_str()))
                    .text(Some(shipped.tracking_number.as_str()));
            }
            Event::OrderDelivered(_) => {}
            Event::OrderCancelled(cancelled) => {
                let currency = cancelled.refund_due.map(|m| m.currency());
                r.text(Some(cancelled.reason.as_str()))
                    .int(cancelled.refund_due.map(|m| m.amount_minor()))
                    .text(currency.as_ref().map(|c| c.as_str()));
            }
            Event::OrderExpired(expired) => {
                let cause = match expired.cause {
                    ExpiryCause::PaymentTimeout => "payment_timeout",
                };
                r.text(Some(cause)).time(Some(expired.payment_due_at));
            }
            Event::ShipmentOverdue(overdue) => {
                r.time(Some(overdue.ship_by));
            }
        }
    }
}

fn money(r: &mut Cursor<'_>, money: &Money) {
    r.int(Some(money.amount_minor()))
        .text(Some(money.currency().as_str()));
}

pub(super) fn line(r: &mut Cursor<'_>, line: &Line) {
    r.text(Some(line.sku.as_str()))
        .int(Some(i64::from(line.quantity.get())))
        .int(Some(line.unit_price.amount_minor()))
        .int(Some(line.line_total.amount_minor()))
        .text(Some(line.unit_price.currency().as_str()));
}

pub(super) fn address(r: &mut Cursor<'_>, address: &Address) {
    r.text(Some(address.name()))
        .text(Some(address.line1()))
        .text(address.line2())
        .text(Some(address.city()))
        .text(Some(address.postal_code()))
        .text(Some(address.country()));
}
