//! `orderlog order state`: an order as it was, folded with the domain's own `evolve`.

use anyhow::{Context as _, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use event_store::wire::decode_event;
use rdkafka::Message;
use schemas::EventEnvelope;
use schemas::order::fold;
use schemas::values::OrderId;
use serde_json::{Value, json};

use crate::Context;
use crate::args::StateArgs;
use crate::bound::Bound;
use crate::scan::Log;
use event_store::partitioner::partition_of;

/// Which point of the order's life to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Latest,
    Time(DateTime<Utc>),
    Version(u64),
}

/// The order's events, in order: from the partition its key maps to, or (if another
/// partitioner wrote it) from every partition.
fn history(ctx: &Context, order_id: &OrderId) -> anyhow::Result<Vec<EventEnvelope>> {
    let log = Log::open(&ctx.kafka, ctx.timeout)?;
    let key = order_id.to_string();
    let count = i32::try_from(log.partitions.len()).unwrap_or(i32::MAX);
    let home = partition_of(key.as_bytes(), count);
    let mut events = read(log.only(Some(home))?, &key)?;
    if events.is_empty() {
        events = read(Log::open(&ctx.kafka, ctx.timeout)?, &key)?;
    }
    events.sort_by_key(|e| e.order_version);
    Ok(events)
}

fn read(log: Log, key: &str) -> anyhow::Result<Vec<EventEnvelope>> {
    let ranges = log.ranges(Bound::Beginning, Some(Bound::End), false)?;
    let mut events = Vec::new();
    log.read_to_end(&ranges, |message| {
        if message.key() == Some(key.as_bytes()) {
            let event = decode_event(message).with_context(|| {
                format!(
                    "partition {} offset {} cannot be read",
                    message.partition(),
                    message.offset()
                )
            })?;
            events.push(event);
        }
        Ok(())
    })?;
    Ok(events)
}

/// The JSON document printed: the state, and the history that made it.
pub fn document(
    order_id: &OrderId,
    events: &[EventEnvelope],
    as_of: AsOf,
) -> anyhow::Result<Value> {
    let Some(first) = events.first() else {
        bail!("order {order_id} has no events")
    };
    let upto: Vec<&EventEnvelope> = match as_of {
        AsOf::Latest => events.iter().collect(),
        AsOf::Time(at) => events.iter().take_while(|e| e.occurred_at <= at).collect(),
        AsOf::Version(version) => {
            if version == 0 || version > events.len() as u64 {
                bail!(
                    "order {order_id} has versions 1 to {}; there is no version {version}",
                    events.len()
                );
            }
            events
                .iter()
                .take_while(|e| e.order_version <= version)
                .collect()
        }
    };
    if upto.is_empty() {
        let at = match as_of {
            AsOf::Time(at) => at.to_rfc3339_opts(SecondsFormat::Micros, true),
            _ => "that point".to_owned(),
        };
        bail!(
            "order {order_id} did not exist at {at}: it was placed at {}",
            first
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Micros, true)
        );
    }
    let state = fold(upto.iter().map(|e| &e.event))
        .with_context(|| format!("order {order_id}'s events do not fold"))?;
    let history: Vec<Value> = upto
        .iter()
        .map(|e| {
            json!({
                "version": e.order_version,
                "type": e.event.type_name(),
                "time": e.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
                "event_id": e.event_id,
                "data": e.event.to_payload(),
            })
        })
        .collect();
    let as_of_time = match as_of {
        AsOf::Time(at) => at,
        _ => upto.last().map_or(first.occurred_at, |e| e.occurred_at),
    };
    Ok(json!({
        "order_id": order_id.to_string(),
        "as_of": as_of_time.to_rfc3339_opts(SecondsFormat::Micros, true),
        "version": state.version(),
        "latest_version": events.len(),
        "state": state.order(),
        "history": history,
    }))
}

pub fn run(ctx: &Context, args: &StateArgs) -> anyhow::Result<Value> {
    let order_id = OrderId::parse(&args.order_id)
        .map_err(|_| anyhow::anyhow!("`{}` is not an order id (a UUID)", args.order_id))?;
    let as_of = match (&args.at, args.version) {
        (Some(at), _) => match Bound::parse(at, Utc::now())? {
            Bound::Time(at) => AsOf::Time(at),
            _ => bail!("--at takes a moment (RFC 3339, a date, or relative like -1h), not `{at}`"),
        },
        (None, Some(version)) => AsOf::Version(version),
        (None, None) => AsOf::Latest,
    };
    let events = history(ctx, &order_id)?;
    document(&order_id, &events, as_of)
}
