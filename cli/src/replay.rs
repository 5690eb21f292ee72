//! `orderlog events replay` and `orderlog events tail`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::bail;
use chrono::Utc;
use event_store::wire::HeaderView;
use rdkafka::Message;
use serde::Deserialize;

use crate::Context;
use crate::args::Selection;
use crate::bound::{Bound, check_range};
use crate::filter::Filter;
use crate::output::Sink;
use crate::progress::Progress;
use crate::record::EventRecord;
use crate::scan::{Log, span};

const PLACED: &str = "dev.orderlog.order.placed";

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub read: i64,
    pub written: u64,
    pub unreadable: u64,
}

#[derive(Deserialize)]
struct Placement<'a> {
    #[serde(borrow)]
    customer_id: &'a str,
}

/// Replays `[from, to)` (or from `from` on, following, when `to` is None).
pub fn run(
    ctx: &Context,
    from: &str,
    to: Option<&str>,
    selection: &Selection,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Replayed> {
    let now = Utc::now();
    let from = Bound::parse(from, now)?;
    let to = to.map(|to| Bound::parse(to, now)).transpose()?;
    if let Some(to) = to {
        check_range(from, to).map_err(anyhow::Error::msg)?;
    }
    let filter = Filter::new(&selection.types, &selection.orders, &selection.customers)
        .map_err(anyhow::Error::msg)?;
    let log = Log::open(&ctx.kafka, ctx.timeout)?.only(selection.partition)?;
    let ranges = log.ranges(from, to, filter.needs_customers())?;
    let (time_from, time_to) = (from.time(), to.and_then(|t| t.time()));
    let following = to.is_none();
    let sink = RefCell::new(Sink::open(selection.format, selection.output.as_deref())?);
    let mut customers: HashMap<String, String> = HashMap::new();
    let mut progress = Progress::new(span(&ranges));
    let mut done = Replayed::default();
    log.scan(
        &ranges,
        stop,
        || {
            sink.borrow_mut().flush()?;
            Ok(())
        },
        |message, emit| {
            done.read += 1;
            let headers = HeaderView::of(message);
            let (Some(event_type), Some(subject)) =
                (headers.text("ce_type"), headers.text("ce_subject"))
            else {
                done.unreadable += 1;
                eprintln!(
                    "orderlog: skipping partition {} offset {}: not a CloudEvent",
                    message.partition(),
                    message.offset()
                );
                return Ok(());
            };
            if filter.needs_customers() && event_type == PLACED {
                let payload = message.payload().unwrap_or_default();
                if let Ok(placement) = serde_json::from_slice::<Placement<'_>>(payload)
                    && filter.wants_customer(placement.customer_id)
                {
                    customers.insert(subject.to_owned(), placement.customer_id.to_owned());
                }
            }
            if !emit
                || !filter.keeps(
                    event_type,
                    subject,
                    customers.get(subject).map(String::as_str),
                )
            {
                return Ok(());
            }
            let decoded = EventRecord::decode(
                |name| headers.get(name),
                message.payload().unwrap_or_default(),
                message.partition(),
                message.offset(),
            );
            let event = match decoded {
                Ok(event) => event,
                Err(reason) => {
                    done.unreadable += 1;
                    eprintln!(
                        "orderlog: skipping partition {} offset {}: {reason}",
                        message.partition(),
                        message.offset()
                    );
                    return Ok(());
                }
            };
            if time_from.is_some() || time_to.is_some() {
                let at = event.occurred_at;
                if time_from.is_some_and(|from| at < from) || time_to.is_some_and(|to| at >= to) {
                    return Ok(());
                }
            }
            let mut sink = sink.borrow_mut();
            sink.write(&event)?;
            done.written += 1;
            if following {
                sink.flush()?;
            }
            progress.tick(done.read, done.written);
            Ok(())
        },
    )?;
    sink.borrow_mut().flush()?;
    progress.finish(done.read, done.written);
    if done.unreadable > 0 {
        eprintln!(
            "orderlog: {} records could not be read and were skipped",
            done.unreadable
        );
    }
    Ok(done)
}

/// `orderlog events tail`: a replay that follows, from the end by default.
pub fn tail(
    ctx: &Context,
    from: &str,
    selection: &Selection,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Replayed> {
    if matches!(Bound::parse(from, Utc::now())?, Bound::Offset(_)) && selection.partition.is_none()
    {
        bail!("--from with an offset needs --partition: offsets differ between partitions");
    }
    run(ctx, from, None, selection, stop)
}
