//! An export directory and its commits. A run writes its files under
//! `_orderlog/staging/<run>/`, where no reader looks (Spark and Hive skip `_` paths, and
//! DuckDB reads the dataset directories). Committing is:
//!
//! 1. the intent, `_orderlog/commit.json` (the files to move and the new manifest), written
//!    to a temporary name, synced and renamed: the run is committed from here on;
//! 2. each file renamed from staging into its dataset directory;
//! 3. the manifest replaced by the new one (temporary name, rename), then the intent removed.
//!
//! A run killed before 1 leaves only staging, which the next run deletes: none of its files
//! were ever visible. Killed after 1, the next run finishes 2 and 3 before anything else.
//! Either way every event is in the datasets exactly once. One run at a time holds the
//! directory's lock (`_orderlog/lock`).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::manifest::Manifest;

const META: &str = "_orderlog";

/// What a committing run is about to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    pub run: String,
    /// Paths relative to the export directory, staged under the run's staging directory.
    pub files: Vec<String>,
    pub manifest: Manifest,
}

/// An export directory, locked for one run.
pub struct ExportDir {
    pub root: PathBuf,
    _lock: File,
}

impl ExportDir {
    /// Creates the directory if needed, takes its lock, and finishes a committed run
    /// that was interrupted (or discards an uncommitted one's staging).
    pub fn open(root: &Path) -> anyhow::Result<(Self, Option<String>)> {
        let meta = root.join(META);
        std::fs::create_dir_all(&meta).with_context(|| format!("creating {}", meta.display()))?;
        let lock = File::create(meta.join("lock"))
            .with_context(|| format!("creating the lock in {}", meta.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "another orderlog export is writing {} (it holds {}/lock)",
                root.display(),
                meta.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).context(format!("locking {}", root.display()));
            }
        }
        let dir = Self {
            root: root.to_owned(),
            _lock: lock,
        };
        let recovered = dir.recover()?;
        Ok((dir, recovered))
    }

    fn meta(&self) -> PathBuf {
        self.root.join(META)
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.meta().join("manifest.json")
    }

    /// Where `run` writes its files.
    pub fn staging(&self, run: &str) -> PathBuf {
        self.meta().join("staging").join(run)
    }

    /// The committed manifest, if the directory has one.
    pub fn manifest(&self) -> anyhow::Result<Option<Manifest>> {
        let path = self.manifest_path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a manifest", path.display()))
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context(format!("reading {}", path.display())),
        }
    }

    /// Commits `intent`: from the moment this returns past step 1, the run is in.
    pub fn commit(&self, intent: &Intent) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(intent)?;
        replace(&self.meta().join("commit.json"), &bytes)?;
        self.apply(intent)
    }

    /// Steps 2 and 3 of a committed intent; doing them twice changes nothing.
    fn apply(&self, intent: &Intent) -> anyhow::Result<()> {
        let staging = self.staging(&intent.run);
        for file in &intent.files {
            let (from, to) = (staging.join(file), self.root.join(file));
            if from.exists() {
                if let Some(dir) = to.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                std::fs::rename(&from, &to)
                    .with_context(|| format!("moving {} into place", from.display()))?;
                if let Some(dir) = to.parent() {
                    sync_dir(dir)?;
                }
            } else if !to.exists() {
                bail!(
                    "run {} was committed but its file {file} is neither staged nor in place",
                    intent.run
                );
            }
        }
        let manifest = serde_json::to_vec_pretty(&intent.manifest)?;
        replace(&self.manifest_path(), &manifest)?;
        std::fs::remove_file(self.meta().join("commit.json")).context("removing the intent")?;
        sync_dir(&self.meta())?;
        remove_staging(&self.meta())
    }

    /// Finishes a committed run's moves, then deletes what uncommitted runs staged.
    fn recover(&self) -> anyhow::Result<Option<String>> {
        let path = self.meta().join("commit.json");
        let recovered = match std::fs::read(&path) {
            Ok(bytes) => {
                let intent: Intent = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not a commit intent", path.display()))?;
                self.apply(&intent)?;
                Some(intent.run)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context(format!("reading {}", path.display())),
        };
        remove_staging(&self.meta())?;
        Ok(recovered)
    }
}

fn remove_staging(meta: &Path) -> anyhow::Result<()> {
    let staging = meta.join("staging");
    match std::fs::remove_dir_all(&staging) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).context(format!("removing {}", staging.display())),
    }
}

/// Replaces `path` with `bytes` atomically: a temporary file, synced, renamed over it.
pub fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    File::open(&temporary)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::super::manifest::Selected;
    use super::*;

    fn temp() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("orderlog-commit-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    fn stage(dir: &ExportDir, run: &str, file: &str) {
        let path = dir.staging(run).join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, run).expect("staged");
    }

    fn intent(run: &str, files: &[&str]) -> Intent {
        Intent {
            run: run.to_owned(),
            files: files.iter().map(|f| (*f).to_owned()).collect(),
            manifest: Manifest::new("t", Selected::default()),
        }
    }

    #[test]
    fn an_intent_half_applied_when_killed_is_finished_by_the_next_open() {
        let root = temp();
        let files = [
            "a/date=2026-01-01/p1.parquet",
            "b/date=2026-01-02/p2.parquet",
        ];
        {
            let (dir, _) = ExportDir::open(&root).expect("open");
            for f in files {
                stage(&dir, "r1", f);
            }
            // Killed after the intent and the first move.
            let bytes = serde_json::to_vec(&intent("r1", &files)).expect("json");
            replace(&dir.meta().join("commit.json"), &bytes).expect("intent");
            let first = root.join(files[0]);
            std::fs::create_dir_all(first.parent().expect("parent")).expect("dirs");
            std::fs::rename(dir.staging("r1").join(files[0]), &first).expect("moved");
            // An uncommitted run's staging, too.
            stage(&dir, "r2", "a/date=2026-01-03/p3.parquet");
        }
        let (dir, recovered) = ExportDir::open(&root).expect("reopen");
        assert_eq!(recovered.as_deref(), Some("r1"));
        for f in files {
            assert_eq!(
                std::fs::read_to_string(root.join(f)).expect("in place"),
                "r1"
            );
        }
        assert!(!root.join("a/date=2026-01-03").exists(), "r2 never appears");
        assert!(!dir.meta().join("staging").exists());
        assert!(!dir.meta().join("commit.json").exists());
        assert!(dir.manifest().expect("read").is_some());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn one_run_at_a_time_holds_the_directory() {
        let root = temp();
        let (_held, _) = ExportDir::open(&root).expect("open");
        let second = ExportDir::open(&root).err().expect("locked");
        assert!(
            second.to_string().contains("another orderlog export"),
            "{second}"
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_committed_file_neither_staged_nor_in_place_is_an_error() {
        let root = temp();
        let (dir, _) = ExportDir::open(&root).expect("open");
        let error = dir
            .commit(&intent("r1", &["a/x.parquet"]))
            .expect_err("lost");
        assert!(error.to_string().contains("neither staged nor in place"));
        let _ = std::fs::remove_dir_all(root);
    }
}
