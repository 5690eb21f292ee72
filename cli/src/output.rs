//! Where replayed events go: JSON Lines or CSV, to stdout or a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use crate::args::Format;
use crate::record::{CSV_COLUMNS, EventRecord};

pub enum Sink {
    Jsonl(Box<dyn Write>),
    Csv(Box<csv::Writer<Box<dyn Write>>>),
}

impl Sink {
    pub fn open(format: Format, path: Option<&Path>) -> anyhow::Result<Self> {
        let out: Box<dyn Write> = match path {
            Some(path) => {
                let file = File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Box::new(BufWriter::with_capacity(1 << 20, file))
            }
            None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
        };
        Ok(match format {
            Format::Jsonl => Sink::Jsonl(out),
            Format::Csv => {
                let mut writer = csv::WriterBuilder::new().from_writer(out);
                writer.write_record(CSV_COLUMNS)?;
                Sink::Csv(Box::new(writer))
            }
        })
    }

    pub fn write(&mut self, event: &EventRecord<'_>) -> std::io::Result<()> {
        match self {
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, event)?;
                out.write_all(b"\n")
            }
            Sink::Csv(writer) => writer
                .write_record(event.csv_row().iter().map(|c| c.as_bytes()))
                .map_err(std::io::Error::from),
        }
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Jsonl(out) => out.flush(),
            Sink::Csv(writer) => writer.flush(),
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
