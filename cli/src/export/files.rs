//! The Parquet files of one run, written in its staging directory: one file per dataset and
//! day until it holds [`Limits::file_rows`] rows, zstd-compressed, row groups bounded in
//! bytes. At most [`Limits::open_files`] are open at once (the least recently written is
//! closed first), so memory stays bounded however many days a run spans.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use arrow_array::RecordBatch;
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

/// Level 1: the fast end of zstd, still several times smaller than the JSON.
pub const ZSTD_LEVEL: i32 = 1;

/// How every Parquet file of an export is written: zstd at [`ZSTD_LEVEL`].
pub fn properties() -> parquet::errors::Result<parquet::file::properties::WriterPropertiesBuilder> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?)))
}

/// Offsets `[first, last]` of the rows a file holds, per partition.
pub type Offsets = BTreeMap<i32, (i64, i64)>;

/// Adds `offset` of `partition` to `offsets`.
pub fn extend(offsets: &mut Offsets, partition: i32, offset: i64) {
    offsets
        .entry(partition)
        .and_modify(|(first, last)| {
            *first = (*first).min(offset);
            *last = (*last).max(offset);
        })
        .or_insert((offset, offset));
}

/// Merges `more` into `offsets`.
pub fn merge(offsets: &mut Offsets, more: &Offsets) {
    for (partition, (first, last)) in more {
        extend(offsets, *partition, *first);
        extend(offsets, *partition, *last);
    }
}

/// A finished file, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// Relative to the output directory: `placed/date=2026-12-06/part-<run>-0001.parquet`.
    pub path: String,
    pub dataset: String,
    pub date: NaiveDate,
    pub rows: u64,
    pub bytes: u64,
    /// The schema version of the dataset's event type the file was written at.
    pub schema_version: u32,
    pub offsets: Offsets,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub file_rows: u64,
    pub open_files: usize,
    pub row_group_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            file_rows: 8_000_000,
            open_files: 48,
            row_group_bytes: 64 << 20,
        }
    }
}

struct Open {
    writer: ArrowWriter<BufWriter<File>>,
    file: Written,
    used: u64,
}

/// The files a run is writing, under `staging`.
pub struct Files {
    staging: PathBuf,
    run: String,
    limits: Limits,
    open: HashMap<(String, NaiveDate), Open>,
    done: Vec<Written>,
    made: u32,
    clock: u64,
}

impl Files {
    pub fn new(staging: &Path, run: &str, limits: Limits) -> Self {
        Self {
            staging: staging.to_owned(),
            run: run.to_owned(),
            limits,
            open: HashMap::new(),
            done: Vec::new(),
            made: 0,
            clock: 0,
        }
    }

    /// Appends `batch` (rows of `dataset` on `date`, at `version`, holding `offsets`).
    pub fn write(
        &mut self,
        dataset: &str,
        version: u32,
        date: NaiveDate,
        batch: &RecordBatch,
        offsets: &Offsets,
    ) -> anyhow::Result<()> {
        self.clock += 1;
        let key = (dataset.to_owned(), date);
        if !self.open.contains_key(&key) {
            if self.open.len() >= self.limits.open_files {
                self.close_least_recent()?;
            }
            let open = self.create(dataset, version, date, batch)?;
            self.open.insert(key.clone(), open);
        }
        let Some(open) = self.open.get_mut(&key) else {
            return Ok(());
        };
        open.writer
            .write(batch)
            .with_context(|| format!("writing {}", open.file.path))?;
        open.used = self.clock;
        open.file.rows += batch.num_rows() as u64;
        merge(&mut open.file.offsets, offsets);
        if open.file.rows >= self.limits.file_rows
            && let Some(full) = self.open.remove(&key)
        {
            self.close(full)?;
        }
        Ok(())
    }

    fn create(
        &mut self,
        dataset: &str,
        version: u32,
        date: NaiveDate,
        batch: &RecordBatch,
    ) -> anyhow::Result<Open> {
        self.made += 1;
        let path = format!(
            "{dataset}/date={date}/part-{}-{:04}.parquet",
            self.run, self.made
        );
        let full = self.staging.join(&path);
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let file = File::create(&full).with_context(|| format!("creating {}", full.display()))?;
        let properties = properties()?
            .set_max_row_group_bytes(Some(self.limits.row_group_bytes))
            .set_key_value_metadata(Some(vec![
                KeyValue::new("orderlog.dataset".to_owned(), dataset.to_owned()),
                KeyValue::new("orderlog.schema_version".to_owned(), version.to_string()),
            ]))
            .build();
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            batch.schema(),
            Some(properties),
        )?;
        Ok(Open {
            writer,
            file: Written {
                path,
                dataset: dataset.to_owned(),
                date,
                rows: 0,
                bytes: 0,
                schema_version: version,
                offsets: Offsets::new(),
            },
            used: self.clock,
        })
    }

    fn close_least_recent(&mut self) -> anyhow::Result<()> {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, open)| open.used)
            .map(|(key, _)| key.clone());
        if let Some(open) = oldest.and_then(|key| self.open.remove(&key)) {
            self.close(open)?;
        }
        Ok(())
    }

    fn close(&mut self, open: Open) -> anyhow::Result<()> {
        let Open {
            writer, mut file, ..
        } = open;
        let out = writer
            .into_inner()
            .with_context(|| format!("finishing {}", file.path))?;
        let out = out
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing {}: {}", file.path, e.error()))?;
        out.sync_all()
            .with_context(|| format!("syncing {}", file.path))?;
        file.bytes = out.metadata().map(|m| m.len()).unwrap_or(0);
        self.done.push(file);
        Ok(())
    }

    /// Closes every file; returns them all, in the order they were finished.
    pub fn finish(mut self) -> anyhow::Result<Vec<Written>> {
        let mut open: Vec<Open> = self.open.drain().map(|(_, open)| open).collect();
        open.sort_by(|a, b| a.file.path.cmp(&b.file.path));
        for file in open {
            self.close(file)?;
        }
        Ok(self.done)
    }
}
