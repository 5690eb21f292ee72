//! A WebSocket connection's subscriptions, bounded: each holds a [`Slot`] of its
//! connection's [`Slots`] for as long as it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::errors::ApiError;

/// A connection's subscriptions: at most `max` at once.
pub(crate) struct Slots {
    held: Arc<AtomicUsize>,
    max: usize,
}

/// One subscription's place on its connection, given back when dropped.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Slots {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            held: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    pub(crate) fn take(&self) -> Result<Slot, ApiError> {
        let taken = self
            .held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
                (held < self.max).then_some(held + 1)
            });
        match taken {
            Ok(_) => Ok(Slot(self.held.clone())),
            Err(_) => Err(ApiError::TooManySubscriptions(self.max)),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_holds_at_most_its_subscriptions() {
        let slots = Slots::new(2);
        let first = slots.take().expect("one");
        let _second = slots.take().expect("two");
        assert!(slots.take().is_err());
        drop(first);
        assert!(slots.take().is_ok());
    }
}
