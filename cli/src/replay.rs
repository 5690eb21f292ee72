//! `orderlog events replay` and `orderlog events tail`. A bounded replay decodes and formats
//! on a pool of threads (`pool.rs`), in the order the records were read; a following one
//! (and `--threads 1`) writes each event from the reading thread as it comes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use anyhow::bail;
use chrono::Utc;
use event_store::wire::HeaderView;
use rdkafka::Message;
use rdkafka::message::BorrowedMessage;
use serde::Deserialize;

use crate::Context;
use crate::args::Selection;
use crate::bound::{Bound, check_range};
use crate::chunk::Chunk;
use crate::filter::Filter;
use crate::output::{Sink, destination};
use crate::pool::{CHUNK_BYTES, CHUNK_RECORDS, Job, Pool};
use crate::progress::Progress;
use crate::record::EventRecord;
use crate::scan::{Log, PartitionRange, span};

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

/// Which records reach the output, told from their headers (and, to filter by customer,
/// from the placements read so far).
struct Screen {
    filter: Filter,
    customers: HashMap<String, String>,
    unreadable: u64,
}

impl Screen {
    /// Whether `message` is kept; `emit` is false for records read only to learn customers.
    fn keeps(&mut self, message: &BorrowedMessage<'_>, emit: bool) -> bool {
        self.screen(message, emit).is_some()
    }

    /// [`Screen::keeps`], handing back the headers it read (to copy without reading them
    /// out of librdkafka again).
    fn screen<'m>(
        &mut self,
        message: &'m BorrowedMessage<'_>,
        emit: bool,
    ) -> Option<HeaderView<'m>> {
        let headers = HeaderView::of(message);
        let (Some(event_type), Some(subject)) =
            (headers.text("ce_type"), headers.text("ce_subject"))
        else {
            self.unreadable += 1;
            eprintln!(
                "orderlog: skipping partition {} offset {}: not a CloudEvent",
                message.partition(),
                message.offset()
            );
            return None;
        };
        if self.filter.needs_customers() && event_type == PLACED {
            let payload = message.payload().unwrap_or_default();
            if let Ok(placement) = serde_json::from_slice::<Placement<'_>>(payload)
                && self.filter.wants_customer(placement.customer_id)
            {
                self.customers
                    .insert(subject.to_owned(), placement.customer_id.to_owned());
            }
        }
        let kept = emit
            && self.filter.keeps(
                event_type,
                subject,
                self.customers.get(subject).map(String::as_str),
            );
        kept.then_some(headers)
    }
}

/// A replay's range, filters and output, resolved.
struct Plan<'a> {
    log: Log,
    ranges: Vec<PartitionRange>,
    screen: Screen,
    job: Job,
    selection: &'a Selection,
}

/// Replays `[from, to)` (or from `from` on, following, when `to` is None), decoding and
/// formatting on `threads` threads when bounded (0: one per core).
pub fn run(
    ctx: &Context,
    from: &str,
    to: Option<&str>,
    selection: &Selection,
    threads: usize,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Replayed> {
    let now = Utc::now();
    let from = Bound::parse(from, now)?;
    let to = to.map(|to| Bound::parse(to, now)).transpose()?;
    if let Some(to) = to {
        check_range(from, to).map_err(anyhow::Error::msg)?;
    }
    let filter = Filter::of(&selection.filters).map_err(anyhow::Error::msg)?;
    let log = Log::open(&ctx.kafka, ctx.timeout)?.only(selection.filters.partition)?;
    let ranges = log.ranges(from, to, filter.needs_customers())?;
    let plan = Plan {
        log,
        ranges,
        screen: Screen {
            filter,
            customers: HashMap::new(),
            unreadable: 0,
        },
        job: Job {
            format: selection.format,
            from: from.time(),
            to: to.and_then(|t| t.time()),
        },
        selection,
    };
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let done = match (to, threads) {
        (None, _) | (_, 1) => one_thread(plan, to.is_none(), stop)?,
        _ => pooled(plan, threads, stop)?,
    };
    if done.unreadable > 0 {
        eprintln!(
            "orderlog: {} records could not be read and were skipped",
            done.unreadable
        );
    }
    Ok(done)
}

/// Decodes, formats and writes each event on the reading thread.
fn one_thread(
    mut plan: Plan<'_>,
    following: bool,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Replayed> {
    let sink = RefCell::new(Sink::open(
        plan.selection.format,
        plan.selection.output.as_deref(),
    )?);
    let mut progress = Progress::new(span(&plan.ranges));
    let mut done = Replayed::default();
    let job = plan.job;
    plan.log.scan(
        &plan.ranges,
        stop,
        || {
            sink.borrow_mut().flush()?;
            Ok(())
        },
        |message, emit| {
            done.read += 1;
            if !plan.screen.keeps(message, emit) {
                return Ok(());
            }
            let headers = HeaderView::of(message);
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
            if !job.in_time(event.occurred_at) {
                return Ok(());
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
    done.unreadable += plan.screen.unreadable;
    Ok(done)
}

/// Copies the kept records into chunks for the pool; the pool's writer puts them out in
/// the order they were read.
fn pooled(mut plan: Plan<'_>, threads: usize, stop: &Arc<AtomicBool>) -> anyhow::Result<Replayed> {
    let out = destination(plan.selection.format, plan.selection.output.as_deref())?;
    let read = Arc::new(AtomicI64::new(0));
    let progress = Progress::new(span(&plan.ranges));
    let pool = Pool::start(threads, plan.job, out, progress, read.clone())?;
    let mut chunk = Chunk::new(0);
    let scanned = plan.log.scan(
        &plan.ranges,
        stop,
        || Ok(()),
        |message, emit| {
            read.fetch_add(1, Ordering::Relaxed);
            let Some(headers) = plan.screen.screen(message, emit) else {
                return Ok(());
            };
            chunk.push_noted(message, &headers, None);
            if chunk.len() >= CHUNK_RECORDS || chunk.weight() >= CHUNK_BYTES {
                let next = Chunk::reusing(chunk.seq + 1, pool.spares.take());
                pool.send(std::mem::replace(&mut chunk, next))?;
            }
            Ok(())
        },
    );
    let sent = scanned.and_then(|()| match chunk.is_empty() {
        true => Ok(()),
        false => pool.send(chunk),
    });
    // The writer's own error (a closed pipe, a full disk) says more than "it stopped".
    let written = pool.finish()?;
    sent?;
    Ok(Replayed {
        read: read.load(Ordering::Relaxed),
        written: written.written,
        unreadable: written.unreadable + plan.screen.unreadable,
    })
}

/// `orderlog events tail`: a replay that follows, from the end by default.
pub fn tail(
    ctx: &Context,
    from: &str,
    selection: &Selection,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Replayed> {
    if matches!(Bound::parse(from, Utc::now())?, Bound::Offset(_))
        && selection.filters.partition.is_none()
    {
        bail!("--from with an offset needs --partition: offsets differ between partitions");
    }
    run(ctx, from, None, selection, 1, stop)
}
