//! How long a projection's oldest unapplied event has waited, from when each partition's
//! end moved: the lag observer notes each partition's end once a second, so the first
//! record past a projection's position reached the log about when the end first passed
//! that position. This gives `orderlog_projection_lag_seconds` without reading a record's
//! timestamp, and it grows as well when the projection has stopped.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How far back the ends are remembered: a projection further behind shows this much.
const KEEP: Duration = Duration::from_secs(3600);

/// The times each partition's end moved, oldest first.
#[derive(Default)]
pub(crate) struct EndHistory {
    moves: HashMap<i32, VecDeque<(Instant, i64)>>,
}

impl EndHistory {
    /// Notes that `partition` ended at `end` at `at`.
    pub(crate) fn observe(&mut self, partition: i32, end: i64, at: Instant) {
        let moves = self.moves.entry(partition).or_default();
        if moves.back().is_none_or(|(_, last)| end > *last) {
            moves.push_back((at, end));
        }
        while moves.len() > 1
            && moves
                .front()
                .is_some_and(|(t, _)| at.duration_since(*t) > KEEP)
        {
            moves.pop_front();
        }
    }

    /// How long the first record at or after `position` (the next offset a projection
    /// applies) has been in the log: zero when it has applied everything noted.
    pub(crate) fn waiting(&self, partition: i32, position: i64, now: Instant) -> Duration {
        self.moves
            .get(&partition)
            .and_then(|moves| moves.iter().find(|(_, end)| *end > position))
            .map_or(Duration::ZERO, |(at, _)| now.duration_since(*at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_counted_from_when_the_end_passed_the_position() {
        let start = Instant::now();
        let s = |secs| start + Duration::from_secs(secs);
        let mut history = EndHistory::default();
        history.observe(0, 10, s(0));
        history.observe(0, 10, s(1)); // no move: the end reached 10 at 0
        history.observe(0, 25, s(2));
        history.observe(0, 40, s(3));
        // caught up
        assert_eq!(history.waiting(0, 40, s(5)), Duration::ZERO);
        // offsets 10..24 arrived at 2: applied up to 12, so 13 waits since then
        assert_eq!(history.waiting(0, 12, s(5)), Duration::from_secs(3));
        // behind the first noted end: waiting at least since the first note
        assert_eq!(history.waiting(0, 3, s(5)), Duration::from_secs(5));
        // a partition never noted has nothing waiting that we know of
        assert_eq!(history.waiting(7, 0, s(5)), Duration::ZERO);
    }

    #[test]
    fn only_an_hour_is_kept() {
        let start = Instant::now();
        let mut history = EndHistory::default();
        for i in 0..10_000u64 {
            history.observe(0, i as i64 + 1, start + Duration::from_secs(i));
        }
        let moves = &history.moves[&0];
        assert!(moves.len() <= 3602, "{}", moves.len());
        let now = start + Duration::from_secs(10_000);
        // a position long gone shows the bound, not the true wait
        assert!(history.waiting(0, 0, now) <= KEEP + Duration::from_secs(2));
    }
}
