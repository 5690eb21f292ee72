//! The manifest of an export directory (`_orderlog/manifest.json`): what was selected, how
//! far each partition has been exported, every committed file with the offsets it holds,
//! and the runs that wrote them. Readers do not need it (they glob the datasets); the next
//! run does, to export only what is new.

use std::collections::BTreeMap;

use anyhow::bail;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::files::Written;

pub const FORMAT: u32 = 1;

/// The filters of an export; a directory keeps the ones it was started with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selected {
    pub types: Vec<String>,
    pub orders: Vec<String>,
    pub customers: Vec<String>,
    pub partition: Option<i32>,
}

impl Selected {
    /// How it reads on a command line, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (flag, values) in [
            ("--type", &self.types),
            ("--order", &self.orders),
            ("--customer", &self.customers),
        ] {
            if !values.is_empty() {
                parts.push(format!("{flag} {}", values.join(",")));
            }
        }
        if let Some(p) = self.partition {
            parts.push(format!("--partition {p}"));
        }
        if parts.is_empty() {
            "no filter".to_owned()
        } else {
            parts.join(" ")
        }
    }
}

/// One committed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run: String,
    pub committed_at: DateTime<Utc>,
    /// Events exported (rows of the envelope dataset, or of the per-type ones without it).
    pub events: u64,
    pub files: usize,
    /// Per partition, the offsets `[from, to)` the run read.
    pub read: BTreeMap<i32, (i64, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub topic: String,
    pub selection: Selected,
    /// Per dataset, the highest schema version of its event type written so far.
    pub versions: BTreeMap<String, u32>,
    /// Per partition, the next offset to export.
    pub positions: BTreeMap<i32, i64>,
    pub runs: Vec<RunRecord>,
    pub files: Vec<Written>,
}

impl Manifest {
    pub fn new(topic: &str, selection: Selected) -> Self {
        Self {
            format: FORMAT,
            topic: topic.to_owned(),
            selection,
            versions: BTreeMap::new(),
            positions: BTreeMap::new(),
            runs: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Whether this run may continue the export: same topic and filters, and no dataset
    /// written by a newer build than this one (its files would have columns this build
    /// drops).
    pub fn check(
        &self,
        topic: &str,
        selection: &Selected,
        versions: &[(&str, u32)],
    ) -> anyhow::Result<()> {
        if self.format != FORMAT {
            bail!(
                "the manifest has format {}, this orderlog reads format {FORMAT}",
                self.format
            );
        }
        if self.topic != topic {
            bail!(
                "this directory exports {}, not {topic}; use another directory",
                self.topic
            );
        }
        if &self.selection != selection {
            bail!(
                "this directory was exported with {}; run with the same filters, or export to another directory",
                self.selection.describe()
            );
        }
        for (dataset, version) in versions {
            if let Some(written) = self.versions.get(*dataset)
                && written > version
            {
                bail!(
                    "the {dataset} dataset here was written at schema version {written} by a newer orderlog; this one writes version {version}: upgrade orderlog"
                );
            }
        }
        Ok(())
    }

    /// Records a run that read `read` and wrote `files`.
    pub fn add_run(
        &mut self,
        run: &str,
        read: BTreeMap<i32, (i64, i64)>,
        events: u64,
        files: Vec<Written>,
        versions: &[(&str, u32)],
    ) {
        for (partition, (_, to)) in &read {
            self.positions.insert(*partition, *to);
        }
        for (dataset, version) in versions {
            let entry = self.versions.entry((*dataset).to_owned()).or_insert(0);
            *entry = (*entry).max(*version);
        }
        self.runs.push(RunRecord {
            run: run.to_owned(),
            committed_at: Utc::now(),
            events,
            files: files.len(),
            read,
        });
        self.files.extend(files);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(types: &[&str]) -> Selected {
        Selected {
            types: types.iter().map(|t| (*t).to_owned()).collect(),
            ..Selected::default()
        }
    }

    #[test]
    fn a_run_moves_the_positions_and_keeps_the_highest_versions() {
        let mut manifest = Manifest::new("orderlog.events", Selected::default());
        manifest.add_run(
            "r1",
            BTreeMap::from([(0, (0, 10)), (1, (0, 4))]),
            14,
            vec![],
            &[("placed", 1)],
        );
        manifest.add_run(
            "r2",
            BTreeMap::from([(0, (10, 12))]),
            2,
            vec![],
            &[("placed", 2)],
        );
        assert_eq!(manifest.positions, BTreeMap::from([(0, 12), (1, 4)]));
        assert_eq!(manifest.versions["placed"], 2);
        assert_eq!(manifest.runs.len(), 2);
    }

    #[test]
    fn another_topic_other_filters_or_an_older_build_are_refused() {
        let mut manifest = Manifest::new("orderlog.events", selected(&["placed"]));
        manifest.add_run("r1", BTreeMap::new(), 0, vec![], &[("placed", 2)]);
        let same = selected(&["placed"]);
        assert!(
            manifest
                .check("orderlog.events", &same, &[("placed", 2)])
                .is_ok()
        );
        let other = manifest
            .check("x.events", &same, &[("placed", 2)])
            .expect_err("topic");
        assert!(other.to_string().contains("exports orderlog.events"));
        let filters = manifest
            .check("orderlog.events", &Selected::default(), &[("placed", 2)])
            .expect_err("filters");
        assert!(
            filters.to_string().contains("exported with --type placed"),
            "{filters}"
        );
        let older = manifest
            .check("orderlog.events", &same, &[("placed", 1)])
            .expect_err("older build");
        assert!(older.to_string().contains("newer orderlog"), "{older}");
    }
}
