//! Rows gathered per dataset and day into batches of [`BATCH_ROWS`], handed to the run's
//! files. At most [`MAX_PENDING`] batches are being gathered at once (the least recently
//! filled goes out first), so a run spanning a year holds no more than one spanning a day.

use std::collections::HashMap;

use anyhow::anyhow;
use chrono::NaiveDate;

use super::columns::Table;
use super::datasets::{Dataset, Row, all};
use super::files::{Files, Offsets, extend};

pub const BATCH_ROWS: usize = 16_384;
const MAX_PENDING: usize = 64;

struct Pending {
    table: Table,
    offsets: Offsets,
    used: u64,
}

/// Which datasets a run writes, and at which schema version each.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Per dataset of [`all`]: the version to write, or None when not exported.
    versions: Vec<Option<u32>>,
}

impl Layout {
    /// Every dataset at this build's versions; `types` narrows the per-type datasets.
    pub fn new(types: Option<&[&str]>) -> Self {
        let versions = all()
            .iter()
            .map(|d| match (d.event_type, types) {
                (Some(t), Some(types)) if !types.contains(&t) => None,
                _ => Some(d.current_version()),
            })
            .collect();
        Self { versions }
    }

    /// The same, with `dataset` written at an older `version` (as an older build did).
    pub fn at_version(mut self, dataset: &str, version: u32) -> Self {
        if let Some(at) = all().iter().position(|d| d.name == dataset)
            && let Some(slot) = self.versions.get_mut(at)
        {
            *slot = slot.map(|_| version);
        }
        self
    }

    /// `(dataset, version)` of every dataset written.
    pub fn written(&self) -> Vec<(Dataset, u32)> {
        all()
            .into_iter()
            .zip(&self.versions)
            .filter_map(|(d, v)| v.map(|v| (d, v)))
            .collect()
    }

    fn version(&self, at: usize) -> Option<u32> {
        self.versions.get(at).copied().flatten()
    }
}

/// The batches being gathered, keyed by dataset (its place in [`all`]) and day.
pub struct Batches {
    layout: Layout,
    datasets: Vec<Dataset>,
    pending: HashMap<(usize, NaiveDate), Pending>,
    clock: u64,
    pub rows: u64,
}

impl Batches {
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            datasets: all(),
            pending: HashMap::new(),
            clock: 0,
            rows: 0,
        }
    }

    /// Adds the event's envelope row and its own dataset's row.
    pub fn add(&mut self, row: &Row<'_>, files: &mut Files) -> anyhow::Result<()> {
        let date = row.envelope.occurred_at.date_naive();
        let own = self
            .datasets
            .iter()
            .position(|d| d.event_type == Some(row.envelope.event.type_name()));
        for at in std::iter::once(0).chain(own) {
            let Some(version) = self.layout.version(at) else {
                continue;
            };
            self.clock += 1;
            let key = (at, date);
            if !self.pending.contains_key(&key) {
                if self.pending.len() >= MAX_PENDING {
                    self.flush_least_recent(files)?;
                }
                let table =
                    Table::new(self.datasets[at].schema(version)).map_err(anyhow::Error::msg)?;
                self.pending.insert(
                    key,
                    Pending {
                        table,
                        offsets: Offsets::new(),
                        used: 0,
                    },
                );
            }
            let Some(pending) = self.pending.get_mut(&key) else {
                continue;
            };
            pending.used = self.clock;
            if at == 0 {
                pending.table.row(|r| row.envelope(r));
            } else {
                pending.table.row(|r| row.data(r, version));
            }
            extend(&mut pending.offsets, row.partition, row.offset);
            self.rows += 1;
            if pending.table.rows() >= BATCH_ROWS {
                self.flush(key, files)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, key: (usize, NaiveDate), files: &mut Files) -> anyhow::Result<()> {
        let Some(mut pending) = self.pending.remove(&key) else {
            return Ok(());
        };
        let dataset = self.datasets[key.0];
        let version = self.layout.version(key.0).unwrap_or(1);
        let batch = pending
            .table
            .finish()
            .map_err(|fault| anyhow!("internal error in the {} dataset: {fault}", dataset.name))?;
        files.write(dataset.name, version, key.1, &batch, &pending.offsets)
    }

    fn flush_least_recent(&mut self, files: &mut Files) -> anyhow::Result<()> {
        let oldest = self
            .pending
            .iter()
            .min_by_key(|(_, p)| p.used)
            .map(|(key, _)| *key);
        match oldest {
            Some(key) => self.flush(key, files),
            None => Ok(()),
        }
    }

    /// Hands every gathered row to `files`.
    pub fn finish(mut self, files: &mut Files) -> anyhow::Result<()> {
        let mut keys: Vec<(usize, NaiveDate)> = self.pending.keys().copied().collect();
        keys.sort();
        for key in keys {
            self.flush(key, files)?;
        }
        Ok(())
    }
}
