//! Decoding and formatting a replay on a pool of threads: the reading thread hands chunks
//! of copied records to the workers, each worker turns a chunk into output bytes, and one
//! writer thread puts the chunks out in the order they were read, so the output is byte for
//! byte what a single thread writes. Memory stays bounded: the reading thread waits when
//! twice as many chunks as workers are queued.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};

use crate::args::Format;
use crate::chunk::Chunk;
use crate::output::Sink;
use crate::progress::Progress;
use crate::record::EventRecord;

/// A chunk is handed over at this many records...
pub const CHUNK_RECORDS: usize = 2_048;
/// ...or this many bytes, whichever comes first.
pub const CHUNK_BYTES: usize = 4 << 20;

/// What the workers do to each record: the output format and the time range kept.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub format: Format,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Job {
    /// Whether an event of `at` is in the time range.
    pub fn in_time(&self, at: DateTime<Utc>) -> bool {
        !(self.from.is_some_and(|from| at < from) || self.to.is_some_and(|to| at >= to))
    }
}

/// What the writer put out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub written: u64,
    pub unreadable: u64,
}

/// One chunk's output.
struct Formatted {
    seq: u64,
    bytes: Vec<u8>,
    written: u64,
    skipped: Vec<String>,
}

/// Byte buffers handed back for reuse (chunk arenas, formatted output): a few megabytes
/// freed and allocated again per chunk would be unmapped and faulted in each time.
#[derive(Debug, Default)]
pub struct Spares(Mutex<Vec<Vec<u8>>>);

impl Spares {
    const KEEP: usize = 16;

    /// An empty buffer, with the capacity of one given back if there is one.
    pub fn take(&self) -> Vec<u8> {
        let mut spare = self
            .0
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_default();
        spare.clear();
        spare
    }

    pub fn give(&self, bytes: Vec<u8>) {
        if let Ok(mut spares) = self.0.lock()
            && spares.len() < Self::KEEP
        {
            spares.push(bytes);
        }
    }
}

pub struct Pool {
    /// The reading thread's chunks come from here, and go back once formatted.
    pub spares: Arc<Spares>,
    work: Option<SyncSender<Chunk>>,
    workers: Vec<JoinHandle<()>>,
    writer: Option<JoinHandle<anyhow::Result<Written>>>,
}

impl Pool {
    /// `threads` workers (at least one) and the writer, writing to `out`; `read` is the
    /// reading thread's count of records, for the progress line.
    pub fn start(
        threads: usize,
        job: Job,
        out: Box<dyn Write + Send>,
        progress: Progress,
        read: Arc<AtomicI64>,
    ) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (work, chunks) = sync_channel::<Chunk>(threads * 2);
        let chunks = Arc::new(Mutex::new(chunks));
        let (done, formatted) = sync_channel::<Formatted>(threads * 2);
        let spares = Arc::new(Spares::default());
        let workers = (0..threads)
            .map(|i| {
                let (chunks, done, spares) = (chunks.clone(), done.clone(), spares.clone());
                std::thread::Builder::new()
                    .name(format!("replay-{i}"))
                    .spawn(move || work_on(&chunks, &done, job, &spares))
            })
            .collect::<Result<_, _>>()?;
        let writer_spares = spares.clone();
        drop(done);
        let writer = std::thread::Builder::new()
            .name("replay-writer".to_owned())
            .spawn(move || write_in_order(&formatted, out, progress, &read, &writer_spares))?;
        Ok(Self {
            spares,
            work: Some(work),
            workers,
            writer: Some(writer),
        })
    }

    /// Hands `chunk` to the workers, waiting while they are busy; an error once the writer
    /// stopped (its error comes from [`Pool::finish`]).
    pub fn send(&self, chunk: Chunk) -> anyhow::Result<()> {
        match &self.work {
            Some(work) if work.send(chunk).is_ok() => Ok(()),
            _ => anyhow::bail!("the replay's writer stopped"),
        }
    }

    /// Waits for every chunk handed over to be written.
    pub fn finish(mut self) -> anyhow::Result<Written> {
        self.work = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(written)) => written,
            _ => anyhow::bail!("the replay's writer thread panicked"),
        }
    }
}

fn work_on(
    chunks: &Mutex<Receiver<Chunk>>,
    done: &SyncSender<Formatted>,
    job: Job,
    spares: &Spares,
) {
    loop {
        let next = match chunks.lock() {
            Ok(chunks) => chunks.recv(),
            Err(_) => return,
        };
        let Ok(chunk) = next else { return };
        let formatted = format(&chunk, job, spares.take());
        spares.give(chunk.into_arena());
        if done.send(formatted).is_err() {
            return;
        }
    }
}

/// Decodes and formats every record of `chunk` into `bytes` (emptied).
fn format(chunk: &Chunk, job: Job, bytes: Vec<u8>) -> Formatted {
    let mut out = Sink::rows(job.format, bytes);
    let (mut written, mut skipped) = (0, Vec::new());
    for record in chunk.records() {
        let decoded = EventRecord::decode(
            |name| record.header(name),
            record.value(),
            record.partition(),
            record.offset(),
        );
        let event = match decoded {
            Ok(event) => event,
            Err(reason) => {
                skipped.push(format!(
                    "orderlog: skipping partition {} offset {}: {reason}",
                    record.partition(),
                    record.offset()
                ));
                continue;
            }
        };
        if !job.in_time(event.occurred_at) {
            continue;
        }
        // Writing into memory fails only on a bug; it is reported, not hidden.
        if let Err(error) = out.write(&event) {
            skipped.push(format!(
                "orderlog: cannot format event {}: {error}",
                event.id
            ));
            continue;
        }
        written += 1;
    }
    Formatted {
        seq: chunk.seq,
        bytes: out.into_inner().unwrap_or_default(),
        written,
        skipped,
    }
}

fn write_in_order(
    formatted: &Receiver<Formatted>,
    mut out: Box<dyn Write + Send>,
    mut progress: Progress,
    read: &AtomicI64,
    spares: &Spares,
) -> anyhow::Result<Written> {
    let mut waiting: BTreeMap<u64, Formatted> = BTreeMap::new();
    let mut next = 0;
    let mut total = Written::default();
    for chunk in formatted {
        waiting.insert(chunk.seq, chunk);
        while let Some(chunk) = waiting.remove(&next) {
            out.write_all(&chunk.bytes)?;
            for line in &chunk.skipped {
                eprintln!("{line}");
            }
            total.written += chunk.written;
            total.unreadable += chunk.skipped.len() as u64;
            progress.tick(read.load(Ordering::Relaxed), total.written);
            next += 1;
            spares.give(chunk.bytes);
        }
    }
    out.flush()?;
    progress.finish(read.load(Ordering::Relaxed), total.written);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chrono::TimeZone;
    use schemas::cloudevents::{self, WireRecord};
    use schemas::envelope::EventEnvelope;
    use schemas::event::{Event, OrderDelivered};
    use schemas::values::OrderId;
    use uuid::Uuid;

    use super::*;

    /// A writer the test reads back after the pool's writer thread is done with it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn record(minute: u32) -> WireRecord {
        cloudevents::encode(&EventEnvelope {
            event_id: Uuid::now_v7(),
            order_id: OrderId::generate(),
            order_version: 4,
            occurred_at: Utc
                .with_ymd_and_hms(2026, 11, 23, 8, minute, 0)
                .single()
                .expect("time"),
            correlation_id: Uuid::now_v7(),
            causation_id: Uuid::now_v7(),
            traceparent: None,
            event: Event::OrderDelivered(OrderDelivered {}),
        })
    }

    fn push(chunk: &mut Chunk, offset: i64, record: &WireRecord) {
        let headers = record
            .headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), Some(v.as_bytes())));
        chunk.push_parts(0, offset, headers, &record.value);
    }

    #[test]
    fn chunks_formatted_out_of_order_are_written_in_the_order_read() {
        let (sender, formatted) = sync_channel(8);
        for (seq, text) in [(2, "c\n"), (0, "a\n"), (3, "d\n"), (1, "b\n")] {
            sender
                .send(Formatted {
                    seq,
                    bytes: text.as_bytes().to_vec(),
                    written: 1,
                    skipped: Vec::new(),
                })
                .expect("sent");
        }
        drop(sender);
        let out = Shared::default();
        let written = write_in_order(
            &formatted,
            Box::new(out.clone()),
            Progress::new(None),
            &AtomicI64::new(0),
            &Spares::default(),
        )
        .expect("written");
        assert_eq!(written.written, 4);
        assert_eq!(out.0.lock().expect("bytes").as_slice(), b"a\nb\nc\nd\n");
    }

    #[test]
    fn many_threads_write_the_bytes_one_thread_writes_in_the_order_read() {
        let records: Vec<WireRecord> = (0..50).map(|n| record(n % 60)).collect();
        let job = |format| Job {
            format,
            from: Some(
                Utc.with_ymd_and_hms(2026, 11, 23, 8, 2, 0)
                    .single()
                    .expect("time"),
            ),
            to: Some(
                Utc.with_ymd_and_hms(2026, 11, 23, 8, 45, 0)
                    .single()
                    .expect("time"),
            ),
        };
        for format in [Format::Jsonl, Format::Csv] {
            // One thread: each event through the sink, as `--threads 1` writes it.
            let mut one = Sink::rows(format, Vec::new());
            for (offset, wire) in records.iter().enumerate() {
                let header = |name: &str| {
                    wire.headers
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.as_bytes())
                };
                let event =
                    EventRecord::decode(header, &wire.value, 0, offset as i64).expect("decodes");
                if job(format).in_time(event.occurred_at) {
                    one.write(&event).expect("written");
                }
            }
            let one = one.into_inner().expect("bytes");
            // Four workers, chunks of three records, one record that is not an event.
            let out = Shared::default();
            let pool = Pool::start(
                4,
                job(format),
                Box::new(out.clone()),
                Progress::new(None),
                Arc::new(AtomicI64::new(0)),
            )
            .expect("threads");
            let mut chunk = Chunk::new(0);
            for (offset, wire) in records.iter().enumerate() {
                push(&mut chunk, offset as i64, wire);
                if offset == 20 {
                    chunk.push_parts(0, 1_000, std::iter::empty(), b"not an event");
                }
                if chunk.len() >= 3 {
                    let next = Chunk::new(chunk.seq + 1);
                    pool.send(std::mem::replace(&mut chunk, next))
                        .expect("sent");
                }
            }
            pool.send(chunk).expect("sent");
            let written = pool.finish().expect("finished");
            assert_eq!(written.unreadable, 1);
            let many = out.0.lock().expect("bytes").clone();
            assert!(!one.is_empty());
            assert_eq!(
                String::from_utf8_lossy(&many),
                String::from_utf8_lossy(&one),
                "{format:?}"
            );
            let lines = one.iter().filter(|b| **b == b'\n').count() as u64;
            assert_eq!(written.written, lines);
        }
    }
}
