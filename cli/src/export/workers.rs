//! Decoding and writing an export on several threads. The reading thread keeps what must
//! follow the log's order (which events pass the filters, each order's customer) and hands
//! the kept records, with their customer, to the workers in chunks. Each worker decodes
//! its chunks into rows and writes its own files in the run's staging directory, so the
//! decoding, the Parquet encoding and the compression all run in parallel. The reading
//! thread waits when twice as many chunks as workers are queued: memory stays bounded.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::anyhow;
use schemas::cloudevents;

use super::batches::{Batches, Layout};
use super::datasets::Row;
use super::files::{Files, Limits, Written};
use crate::chunk::Chunk;

/// A chunk is handed over at this many records.
pub const CHUNK_RECORDS: usize = 4_096;

/// What one worker did.
#[derive(Debug, Default)]
pub struct Share {
    pub files: Vec<Written>,
    pub rows: u64,
    pub unreadable: u64,
}

pub struct Workers {
    work: Option<SyncSender<Chunk>>,
    handles: Vec<JoinHandle<anyhow::Result<Share>>>,
}

impl Workers {
    /// `threads` workers (at least one), writing under `staging`; the files of worker `i`
    /// are named `part-<run>-w<i>-NNNN.parquet`.
    pub fn start(
        threads: usize,
        staging: &Path,
        run: &str,
        layout: &Layout,
    ) -> anyhow::Result<Self> {
        let threads = threads.max(1);
        let (work, chunks) = sync_channel::<Chunk>(threads * 2);
        let chunks = Arc::new(Mutex::new(chunks));
        let limits = Limits {
            open_files: (Limits::default().open_files / threads).max(4),
            ..Limits::default()
        };
        let handles = (0..threads)
            .map(|i| {
                let (chunks, layout) = (chunks.clone(), layout.clone());
                let staging: PathBuf = staging.to_owned();
                let name = format!("{run}-w{i}");
                std::thread::Builder::new()
                    .name(format!("export-{i}"))
                    .spawn(move || {
                        let files = Files::new(&staging, &name, limits);
                        work_on(&chunks, files, Batches::new(layout))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            work: Some(work),
            handles,
        })
    }

    /// Hands `chunk` over, waiting while the workers are busy; an error once one stopped
    /// (its own error comes from [`Workers::finish`]).
    pub fn send(&self, chunk: Chunk) -> anyhow::Result<()> {
        match &self.work {
            Some(work) if work.send(chunk).is_ok() => Ok(()),
            _ => anyhow::bail!("the export's workers stopped"),
        }
    }

    /// Waits for every chunk handed over to be written; every worker's files.
    pub fn finish(mut self) -> anyhow::Result<Share> {
        self.work = None;
        let mut all = Share::default();
        let mut failed = None;
        for handle in self.handles.drain(..) {
            match handle.join() {
                Ok(Ok(share)) => {
                    all.files.extend(share.files);
                    all.rows += share.rows;
                    all.unreadable += share.unreadable;
                }
                Ok(Err(error)) => failed = failed.or(Some(error)),
                Err(_) => failed = failed.or(Some(anyhow!("an export worker panicked"))),
            }
        }
        match failed {
            Some(error) => Err(error),
            None => Ok(all),
        }
    }
}

fn work_on(
    chunks: &Mutex<Receiver<Chunk>>,
    mut files: Files,
    mut batches: Batches,
) -> anyhow::Result<Share> {
    let mut share = Share::default();
    loop {
        let next = match chunks.lock() {
            Ok(chunks) => chunks.recv(),
            Err(_) => break,
        };
        let Ok(chunk) = next else { break };
        for parts in chunk.records() {
            let envelope = match cloudevents::decode(|name| parts.header(name), parts.value()) {
                Ok(envelope) => envelope,
                Err(reason) => {
                    share.unreadable += 1;
                    eprintln!(
                        "orderlog: skipping partition {} offset {}: {reason}",
                        parts.partition(),
                        parts.offset()
                    );
                    continue;
                }
            };
            let customer = parts.note().and_then(|c| std::str::from_utf8(c).ok());
            let row = Row {
                envelope: &envelope,
                customer,
                partition: parts.partition(),
                offset: parts.offset(),
            };
            batches.add(&row, &mut files)?;
        }
    }
    share.rows = batches.rows;
    batches.finish(&mut files)?;
    share.files = files.finish()?;
    Ok(share)
}
