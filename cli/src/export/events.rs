//! `orderlog export parquet`: the log as Parquet datasets, exporting only what is new since
//! the directory's last run and committing each run's files and manifest at once
//! (`commit.rs`). Reads read_committed, so aborted transactions are never exported.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::bail;
use chrono::Utc;
use event_store::wire::HeaderView;
use rdkafka::Message;
use uuid::Uuid;

use super::batches::Layout;
use super::commit::{ExportDir, Intent};
use super::customers::{self, Customers};
use super::manifest::{Manifest, Selected};
use super::workers::{CHUNK_RECORDS, Workers};
use crate::Context;
use crate::args::{Filters, ParquetArgs};
use crate::bound::{Bound, check_range};
use crate::chunk::Chunk;
use crate::filter::{Filter, resolve_type, values};
use crate::progress::Progress;
use crate::scan::{Log, PartitionRange, span};

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The run committed, if it had anything to commit.
    pub run: Option<String>,
    /// A run interrupted after its commit that this one finished first.
    pub recovered: Option<String>,
    pub read: i64,
    pub events: u64,
    pub rows: u64,
    pub files: usize,
    pub unreadable: u64,
}

/// The filters of `args`, in the form the manifest keeps (sorted, without repeats).
fn selected(args: &ParquetArgs) -> anyhow::Result<Selected> {
    let sorted = |inputs: &[String]| -> Vec<String> {
        let mut out = values(inputs);
        out.sort();
        out.dedup();
        out
    };
    let filters = &args.filters;
    let mut types = sorted(&filters.types)
        .iter()
        .map(|t| resolve_type(t).map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    types.sort();
    types.dedup();
    Ok(Selected {
        types,
        orders: sorted(&filters.orders),
        customers: sorted(&filters.customers),
        partition: filters.partition,
    })
}

/// A run id that sorts by time: `20261206T194501Z-1a2b3c4d`.
fn run_id() -> String {
    let suffix = Uuid::new_v4().simple().to_string();
    format!("{}-{}", Utc::now().format("%Y%m%dT%H%M%SZ"), &suffix[..8])
}

/// Exports what is new into `args.out`, with this build's schemas.
pub fn run(ctx: &Context, args: &ParquetArgs, stop: &Arc<AtomicBool>) -> anyhow::Result<Exported> {
    let selection = selected(args)?;
    let types: Vec<&str> = selection.types.iter().map(String::as_str).collect();
    let layout = Layout::new((!types.is_empty()).then_some(&types[..]));
    run_with(ctx, args, layout, stop)
}

/// [`run`] writing the datasets at `layout`'s versions (a test writes an older one, as an
/// older build did).
pub fn run_with(
    ctx: &Context,
    args: &ParquetArgs,
    layout: Layout,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Exported> {
    let selection = selected(args)?;
    let filter = Filter::new(&selection.types, &selection.orders, &selection.customers)
        .map_err(anyhow::Error::msg)?;
    let now = Utc::now();
    let from = args
        .from
        .as_deref()
        .map(|f| Bound::parse(f, now))
        .transpose()?;
    let to = Bound::parse(&args.to, now)?;
    check_range(from.unwrap_or(Bound::Beginning), to).map_err(anyhow::Error::msg)?;

    let log = Log::open(&ctx.kafka, ctx.timeout)?.only(selection.partition)?;
    let (dir, recovered) = ExportDir::open(&args.out)?;
    if let Some(run) = &recovered {
        eprintln!("orderlog: finished committing run {run}, which was interrupted");
    }
    let versions: Vec<(&str, u32)> = layout.written().iter().map(|(d, v)| (d.name, *v)).collect();
    let (manifest, ranges) = match dir.manifest()? {
        Some(manifest) => {
            manifest.check(&log.topic, &selection, &versions)?;
            if from.is_some() {
                bail!(
                    "{} already holds an export, which continues where its last run stopped; drop --from",
                    args.out.display()
                );
            }
            let ranges = continued(&log, &manifest, to)?;
            (manifest, ranges)
        }
        None => {
            let from = from.unwrap_or(Bound::Beginning);
            let ranges = log.ranges(from, Some(to), from != Bound::Beginning)?;
            (Manifest::new(&log.topic, selection.clone()), ranges)
        }
    };
    let run = run_id();
    let staging = dir.staging(&run);
    let mut customers = Customers::load(&dir.root)?;
    let workers = Workers::start(threads(), &staging, &run, &layout)?;
    let mut done = Exported {
        recovered,
        ..Exported::default()
    };
    let mut kept = 0u64;
    let mut last = Positions::default();
    let mut progress = Progress::new(span(&ranges));
    let mut chunk = Chunk::new(0);
    let scanned = log.scan(
        &ranges,
        stop,
        || Ok(()),
        |message, emit| {
            done.read += 1;
            last.saw(message.partition(), message.offset());
            let headers = HeaderView::of(message);
            let payload = message.payload().unwrap_or_default();
            let subject = headers.text("ce_subject").unwrap_or_default();
            let order = Uuid::parse_str(subject).ok();
            let (Some(event_type), Some(order)) = (headers.text("ce_type"), order) else {
                done.unreadable += 1;
                eprintln!(
                    "orderlog: skipping partition {} offset {}: not a CloudEvent of an order",
                    message.partition(),
                    message.offset()
                );
                return Ok(());
            };
            if !emit {
                customers.learn(event_type, order, payload);
                return Ok(());
            }
            if event_type == customers::PLACED {
                customers.learn(event_type, order, payload);
            }
            let customer = customers.of(&order);
            if filter.keeps(event_type, subject, customer) {
                chunk.push_noted(message, &headers, customer.map(str::as_bytes));
                kept += 1;
                if chunk.len() >= CHUNK_RECORDS {
                    let next = Chunk::new(chunk.seq + 1);
                    workers.send(std::mem::replace(&mut chunk, next))?;
                }
            }
            if event_type != customers::PLACED {
                customers.learn(event_type, order, payload);
            }
            progress.tick(done.read, kept);
            Ok(())
        },
    );
    let sent = scanned.and_then(|()| match chunk.is_empty() {
        true => Ok(()),
        false => workers.send(chunk),
    });
    // A worker's own error (a full disk) says more than "it stopped".
    let share = workers.finish()?;
    sent?;
    progress.finish(done.read, kept);
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        bail!("stopped before the end: nothing was committed");
    }
    done.unreadable += share.unreadable;
    done.events = kept - share.unreadable;
    done.rows = share.rows;
    let written = share.files;
    let read = reached(&log, &ranges, &last);
    if done.read == 0 && read.iter().all(|(_, (from, to))| from == to) {
        return Ok(done);
    }
    done.files = written.len();
    customers.save(&staging.join(customers::FILE))?;
    let mut paths: Vec<String> = written.iter().map(|w| w.path.clone()).collect();
    paths.push(customers::FILE.to_owned());
    let mut next = manifest;
    next.add_run(&run, read, done.events, written, &versions);
    dir.commit(&Intent {
        run: run.clone(),
        files: paths,
        manifest: next,
    })?;
    done.run = Some(run);
    Ok(done)
}

/// Each partition from where the manifest says the last run stopped, to `to`.
fn continued(log: &Log, manifest: &Manifest, to: Bound) -> anyhow::Result<Vec<PartitionRange>> {
    let mut ranges = log.ranges(Bound::Beginning, Some(to), false)?;
    for range in &mut ranges {
        let low = range.start;
        let next = manifest
            .positions
            .get(&range.partition)
            .copied()
            .unwrap_or(low);
        if next < low {
            eprintln!(
                "orderlog: partition {}: offsets {next} to {} were deleted by the topic's retention before they were exported",
                range.partition,
                low - 1
            );
        }
        range.start = next.max(low);
        range.emit_from = range.start;
        if let Some(end) = range.end {
            range.end = Some(end.max(range.start));
        }
    }
    Ok(ranges)
}

/// Per partition, the offsets `[from, to)` a finished scan covered: up to its end, or to
/// where read_committed stopped (before a transaction still open), whichever came first.
fn reached(log: &Log, ranges: &[PartitionRange], last: &Positions) -> BTreeMap<i32, (i64, i64)> {
    let positions = log.positions();
    ranges
        .iter()
        .map(|r| {
            let end = r.end.unwrap_or(r.start);
            let seen = last.after(r.partition).unwrap_or(r.start);
            let position = positions.get(&r.partition).copied().unwrap_or(r.start);
            let to = seen.max(position).clamp(r.start, end.max(r.start));
            (r.partition, (r.start, to))
        })
        .collect()
}

/// The last offset read of each partition (a handful: a short list beats a map).
#[derive(Debug, Default)]
struct Positions(Vec<(i32, i64)>);

impl Positions {
    fn saw(&mut self, partition: i32, offset: i64) {
        match self.0.iter_mut().find(|(p, _)| *p == partition) {
            Some(slot) => slot.1 = offset,
            None => self.0.push((partition, offset)),
        }
    }

    /// The offset after the last one read of `partition`.
    fn after(&self, partition: i32) -> Option<i64> {
        self.0
            .iter()
            .find(|(p, _)| *p == partition)
            .map(|(_, o)| o + 1)
    }
}

/// Worker threads: one per core.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `args` for a directory, the whole log, no filter.
pub fn whole_log(out: PathBuf) -> ParquetArgs {
    ParquetArgs {
        out,
        from: None,
        to: "end".to_owned(),
        filters: Filters::default(),
    }
}
