//! Where replayed events go: JSON Lines or CSV, to stdout or a file. One encoder,
//! [`Sink`], writes both the single-threaded replay and the chunks of the threaded one, so
//! their bytes are the same by construction.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use crate::args::Format;
use crate::record::{CSV_COLUMNS, EventRecord};

pub enum Sink<W: Write = Box<dyn Write>> {
    /// The output and the line being written (kept between events).
    Jsonl(W, Vec<u8>),
    Csv(Box<csv::Writer<W>>),
}

impl Sink {
    /// Stdout, or the file at `path`; a CSV starts with its header row.
    pub fn open(format: Format, path: Option<&Path>) -> anyhow::Result<Self> {
        let out: Box<dyn Write> = match path {
            Some(path) => Box::new(BufWriter::with_capacity(1 << 20, create(path)?)),
            None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
        };
        Sink::headed(format, out)
    }
}

/// Stdout, or the file at `path`, for a writer on another thread; a CSV starts with its
/// header row.
pub fn destination(format: Format, path: Option<&Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    let mut out: Box<dyn Write + Send> = match path {
        Some(path) => Box::new(BufWriter::with_capacity(1 << 20, create(path)?)),
        None => Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout())),
    };
    out.write_all(&Sink::headed(format, Vec::new())?.into_inner()?)?;
    Ok(out)
}

fn create(path: &Path) -> anyhow::Result<File> {
    File::create(path).with_context(|| format!("cannot write {}", path.display()))
}

impl<W: Write> Sink<W> {
    /// Rows only, no CSV header row.
    pub fn rows(format: Format, out: W) -> Self {
        match format {
            Format::Jsonl => Sink::Jsonl(out, Vec::with_capacity(1024)),
            Format::Csv => Sink::Csv(Box::new(csv::WriterBuilder::new().from_writer(out))),
        }
    }

    /// A CSV's header row first.
    pub fn headed(format: Format, out: W) -> anyhow::Result<Self> {
        let mut sink = Sink::rows(format, out);
        if let Sink::Csv(writer) = &mut sink {
            writer.write_record(CSV_COLUMNS)?;
        }
        Ok(sink)
    }

    pub fn write(&mut self, event: &EventRecord<'_>) -> std::io::Result<()> {
        match self {
            Sink::Jsonl(out, line) => crate::jsonl::write_to(event, line, out),
            Sink::Csv(writer) => writer
                .write_record(event.csv_row().iter().map(|c| c.as_bytes()))
                .map_err(std::io::Error::from),
        }
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Jsonl(out, _) => out.flush(),
            Sink::Csv(writer) => writer.flush(),
        }
    }

    /// What it wrote to, everything flushed into it.
    pub fn into_inner(self) -> std::io::Result<W> {
        match self {
            Sink::Jsonl(out, _) => Ok(out),
            Sink::Csv(writer) => writer
                .into_inner()
                .map_err(|e| std::io::Error::other(e.to_string())),
        }
    }
}

/// A closed pipe (`orderlog ... | head`) is a normal way to stop, not an error.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
