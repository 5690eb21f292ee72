//! Where a partition keeps the snapshots of its orders in a final state (delivered,
//! cancelled): an append-only file, unlinked as soon as it is created, so it lives exactly
//! as long as the partition's worker and a killed process leaves nothing behind. Such an
//! order never changes again; only a retry or a refused command reads it back, so memory
//! holds just where it is. The compacted snapshots topic stays the record: the file is
//! rebuilt from it at every takeover.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where one value is in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored {
    offset: u64,
    len: u32,
}

#[derive(Debug)]
pub(crate) struct FinalStore {
    file: File,
    end: u64,
}

impl FinalStore {
    /// A new, empty store in `dir`, already unlinked.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        static OPENED: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "orderlog-final-orders-{}-{}",
            std::process::id(),
            OPENED.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)?;
        std::fs::remove_file(&path)?;
        Ok(Self { file, end: 0 })
    }

    /// Appends a value; where it is.
    pub(crate) fn put(&mut self, value: &[u8]) -> io::Result<Stored> {
        let len = u32::try_from(value.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "value too large"))?;
        self.file.write_all(value)?;
        let stored = Stored {
            offset: self.end,
            len,
        };
        self.end += u64::from(len);
        Ok(stored)
    }

    /// The value put at `stored`.
    pub(crate) fn get(&self, stored: Stored) -> io::Result<Vec<u8>> {
        let mut value = vec![0; stored.len as usize];
        self.file.read_exact_at(&mut value, stored.offset)?;
        Ok(value)
    }

    /// The file's size: every value put, including those replaced since.
    pub(crate) fn bytes(&self) -> u64 {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_as_put_and_the_file_is_already_gone() {
        let dir = std::env::temp_dir();
        let mut store = FinalStore::open(&dir).expect("open");
        let first = store.put(b"first").expect("put");
        let empty = store.put(b"").expect("put");
        let second = store.put(&[7; 4096]).expect("put");
        assert_eq!(store.get(second).expect("get"), vec![7; 4096]);
        assert_eq!(store.get(first).expect("get"), b"first");
        assert!(store.get(empty).expect("get").is_empty());
        assert_eq!(store.bytes(), 5 + 4096);
        let name = format!("orderlog-final-orders-{}-", std::process::id());
        let left = std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&name))
            .count();
        assert_eq!(left, 0, "no file left in the directory");
    }
}
