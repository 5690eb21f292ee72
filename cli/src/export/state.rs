//! `orderlog export state --at TIME`: every order as it stood at that moment, one row per
//! order, folded with the domain's own `evolve` from its events up to that time, as one
//! Parquet file. An order is written as soon as it is final (delivered, cancelled, expired),
//! so memory follows the orders still open at the moment, not the log's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use schemas::order::{OrderState, evolve};
use uuid::Uuid;

use super::batches::BATCH_ROWS;
use super::columns::{Table, utc_micros};
use super::datasets::{address, address_type, line, lines_type};
use crate::Context;
use crate::args::ExportStateArgs;
use crate::bound::Bound;
use crate::scan::Log;

/// An order being folded.
struct Folding {
    state: OrderState,
    placed_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// What the command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateExported {
    pub at: DateTime<Utc>,
    pub orders: u64,
    pub events: u64,
    pub unreadable: u64,
}

pub fn schema() -> SchemaRef {
    let optional = |name: &str, t: DataType| Field::new(name, t, true);
    let required = |name: &str, t: DataType| Field::new(name, t, false);
    Arc::new(Schema::new(vec![
        required("order_id", DataType::Utf8),
        required("customer_id", DataType::Utf8),
        required("status", DataType::Utf8),
        required("version", DataType::Int64),
        required("currency", DataType::Utf8),
        required("total_minor", DataType::Int64),
        required("lines", lines_type()),
        required("shipping_address", address_type()),
        optional("payment_reference", DataType::Utf8),
        optional("paid_minor", DataType::Int64),
        optional("payment_due_at", utc_micros()),
        optional("ship_by", utc_micros()),
        optional("carrier", DataType::Utf8),
        optional("tracking_number", DataType::Utf8),
        optional("refund_due_minor", DataType::Int64),
        required("placed_at", utc_micros()),
        required("updated_at", utc_micros()),
        required("as_of", utc_micros()),
    ]))
}

/// The Parquet file being written and its current batch.
struct Out {
    writer: ArrowWriter<BufWriter<File>>,
    table: Table,
    at: DateTime<Utc>,
    orders: u64,
}

impl Out {
    fn add(&mut self, id: &Uuid, folding: &Folding) -> anyhow::Result<()> {
        let Some(order) = folding.state.order() else {
            return Ok(());
        };
        let version = i64::try_from(folding.state.version()).unwrap_or(i64::MAX);
        self.table.row(|r| {
            r.text(Some(&id.to_string()))
                .text(Some(order.customer_id.as_str()))
                .text(Some(order.status.as_str()))
                .int(Some(version))
                .text(Some(order.currency.as_str()))
                .int(Some(order.total.amount_minor()))
                .list(&order.lines, line)
                .group(|a| address(a, &order.shipping_address))
                .text(order.payment.as_ref().map(|p| p.reference.as_str()))
                .int(order.payment.as_ref().map(|p| p.amount.amount_minor()))
                .time(order.payment_due_at)
                .time(order.ship_by)
                .text(order.shipment.as_ref().map(|s| s.carrier.as_str()))
                .text(order.shipment.as_ref().map(|s| s.tracking_number.as_str()))
                .int(order.refund_due.map(|m| m.amount_minor()))
                .time(Some(folding.placed_at))
                .time(Some(folding.updated_at))
                .time(Some(self.at));
        });
        self.orders += 1;
        if self.table.rows() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.table.rows() == 0 {
            return Ok(());
        }
        let batch = self
            .table
            .finish()
            .map_err(|fault| anyhow::anyhow!("internal error in the state file: {fault}"))?;
        self.writer.write(&batch)?;
        Ok(())
    }
}

pub fn run(ctx: &Context, args: &ExportStateArgs) -> anyhow::Result<StateExported> {
    let at = match Bound::parse(&args.at, Utc::now())? {
        Bound::Time(at) => at,
        _ => bail!(
            "--at takes a moment (RFC 3339, a date, or relative like -1h), not `{}`",
            args.at
        ),
    };
    let log = Log::open(&ctx.kafka, ctx.timeout)?;
    let ranges = log.ranges(Bound::Beginning, Some(Bound::End), false)?;
    let temporary = args.out.with_extension("parquet.tmp");
    let file =
        File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    let properties = super::files::properties()?.build();
    let mut out = Out {
        writer: ArrowWriter::try_new(BufWriter::new(file), schema(), Some(properties))?,
        table: Table::new(schema()).map_err(anyhow::Error::msg)?,
        at,
        orders: 0,
    };
    let mut open: HashMap<Uuid, Folding> = HashMap::new();
    let mut done = StateExported {
        at,
        orders: 0,
        events: 0,
        unreadable: 0,
    };
    log.read_to_end(&ranges, |message| {
        let envelope = match event_store::wire::decode_event(message) {
            Ok(envelope) => envelope,
            Err(reason) => {
                done.unreadable += 1;
                eprintln!(
                    "orderlog: skipping partition {} offset {}: {reason}",
                    rdkafka::Message::partition(message),
                    rdkafka::Message::offset(message)
                );
                return Ok(());
            }
        };
        if envelope.occurred_at > at {
            return Ok(());
        }
        done.events += 1;
        let id = envelope.order_id.as_uuid();
        let folding = open.remove(&id).unwrap_or(Folding {
            state: OrderState::default(),
            placed_at: envelope.occurred_at,
            updated_at: envelope.occurred_at,
        });
        let state = match evolve(folding.state, &envelope.event) {
            Ok(state) => state,
            Err(error) => {
                done.unreadable += 1;
                eprintln!("orderlog: order {id} is left out: its events do not fold ({error})");
                return Ok(());
            }
        };
        let folding = Folding {
            state,
            updated_at: envelope.occurred_at,
            ..folding
        };
        if folding
            .state
            .order()
            .is_some_and(|o| o.status.is_terminal())
        {
            out.add(&id, &folding)?;
        } else {
            open.insert(id, folding);
        }
        Ok(())
    })?;
    let mut rest: Vec<(Uuid, Folding)> = open.into_iter().collect();
    rest.sort_by_key(|(id, f)| (f.placed_at, *id));
    for (id, folding) in &rest {
        out.add(id, folding)?;
    }
    out.flush()?;
    done.orders = out.orders;
    finish(out.writer, &temporary, &args.out)?;
    Ok(done)
}

/// Closes the file and moves it to its name, so a reader never sees half of it.
fn finish(
    writer: ArrowWriter<BufWriter<File>>,
    temporary: &Path,
    out: &Path,
) -> anyhow::Result<()> {
    let file = writer
        .into_inner()?
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", temporary.display(), e.error()))?;
    file.sync_all()?;
    std::fs::rename(temporary, out).with_context(|| format!("moving it to {}", out.display()))
}
