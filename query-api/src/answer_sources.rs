//! What an answer is made of: the orders `order(id)` answered with, recorded as the request
//! executes, for the answer cache (`answer_cache.rs`) to know what keeps it valid.

use std::sync::Mutex;

use uuid::Uuid;

/// An order an answer holds, as it holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub order: Uuid,
    pub version: i128,
    pub customer: String,
}

/// One request's orders, recorded by `order(id)` as it answers (in the request's data).
#[derive(Default)]
pub struct Sources(Mutex<Vec<Option<Source>>>);

impl Sources {
    /// `order(id)` answered with `source` (`None`: with null).
    pub fn record(&self, source: Option<Source>) {
        if let Ok(mut sources) = self.0.lock() {
            sources.push(source);
        }
    }

    /// The orders of an answer that has at least one and no null.
    pub(crate) fn take(&self) -> Option<Vec<Source>> {
        self.take_all().filter(|s| !s.is_empty())
    }

    /// The orders of an answer with no null (maybe none).
    pub(crate) fn take_all(&self) -> Option<Vec<Source>> {
        let sources = std::mem::take(&mut *self.0.lock().ok()?);
        sources.into_iter().collect()
    }
}
