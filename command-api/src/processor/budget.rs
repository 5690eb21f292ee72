//! How a processor's partitions share the broker: a budget of transactions per second for
//! the whole process (a generic cell rate algorithm, GCRA), not an interval per partition.
//!
//! Every transaction costs the broker about the same whatever its size, so under load
//! transactions must grow rather than multiply; but a command that finds the platform
//! quiet must start at once. With an interval per partition (20 ms, until session 11) a
//! command at a modest rate often waited for its own partition's interval though the
//! broker was idle: at 300 commands/s, p50 15 ms against 9 ms with no pacing at all, while
//! no pacing at 1,000/s spent the cores on transactions (p50 42 ms against 26 ms). The
//! budget applies only under load: while the process has started fewer than
//! `pace_above` commands in the last second, every transaction starts at once (at 300
//! commands/s, p50 10 ms instead of 16 to 18 ms); above it, the process's partitions
//! together start at most `per_second` transactions a second after a burst of [`BURST`],
//! so transactions wait their turn and carry more commands each. A flat budget without the
//! threshold had to choose: 400 a second left 300 commands/s unhindered but cost 1,000/s
//! its p50 (44 ms against 30 to 38 ms), and 300 a second queued 300 commands/s behind it.

use std::time::{Duration, Instant};

/// Transactions a process may start in a burst before the rate applies.
pub(crate) const BURST: u32 = 6;

/// The shared budget. `reserve` is called once per transaction.
#[derive(Debug)]
pub(crate) struct Budget {
    /// The time one transaction's share of the rate lasts.
    cost: Duration,
    /// How far ahead of now reservations may run: `BURST - 1` transactions.
    tolerance: Duration,
    /// When the next transaction would be due if every reservation were spaced by `cost`
    /// (GCRA's theoretical arrival time).
    next: Option<Instant>,
    /// Commands a second above which the budget applies.
    pace_above: u64,
    /// The current one-second window: when it began and the commands started in it.
    window: (Option<Instant>, u64),
    /// Commands started in the last complete window.
    recent: u64,
}

impl Budget {
    /// `per_second` transactions a second (0: no limit) once more than `pace_above`
    /// commands a second are started.
    pub(crate) fn new(per_second: u32, pace_above: u64) -> Self {
        let cost = if per_second == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) / per_second
        };
        Self {
            cost,
            tolerance: cost * (BURST - 1),
            next: None,
            pace_above,
            window: (None, 0),
            recent: 0,
        }
    }

    /// Counts `commands` started at `now` into the one-second windows.
    fn count(&mut self, now: Instant, commands: u64) {
        let (start, counted) = &mut self.window;
        match start {
            Some(began) if now.saturating_duration_since(*began) < Duration::from_secs(1) => {
                *counted += commands;
            }
            Some(began) if now.saturating_duration_since(*began) < Duration::from_secs(2) => {
                self.recent = *counted;
                self.window = (Some(now), commands);
            }
            _ => {
                // A silent second (or the first) between: nothing recent.
                self.recent = 0;
                self.window = (Some(now), commands);
            }
        }
    }

    /// Reserves one transaction at `now`: how long to wait before starting it (zero
    /// within the budget). The reservation counts even if the caller does not wait (a full
    /// batch goes at once), so later transactions wait for it.
    pub(crate) fn reserve(&mut self, now: Instant, commands: u64) -> Duration {
        self.count(now, commands);
        let (_, current) = self.window;
        if self.recent.max(current) <= self.pace_above {
            self.next = None;
            return Duration::ZERO;
        }
        let due = self.next.map_or(now, |next| next.max(now));
        let wait = due
            .checked_sub(self.tolerance)
            .map_or(Duration::ZERO, |start| start.saturating_duration_since(now));
        self.next = Some(due + self.cost);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_starts_at_once_then_the_rate_spaces_transactions() {
        let mut budget = Budget::new(100, 0); // 10 ms each
        let now = Instant::now();
        for n in 0..BURST {
            assert_eq!(budget.reserve(now, 1), Duration::ZERO, "transaction {n}");
        }
        assert_eq!(budget.reserve(now, 1), Duration::from_millis(10));
        assert_eq!(budget.reserve(now, 1), Duration::from_millis(20));
    }

    #[test]
    fn an_idle_budget_refills_up_to_the_burst() {
        let mut budget = Budget::new(100, 0);
        let start = Instant::now();
        for _ in 0..BURST + 3 {
            budget.reserve(start, 1);
        }
        let later = start + Duration::from_secs(1);
        for n in 0..BURST {
            assert_eq!(budget.reserve(later, 1), Duration::ZERO, "transaction {n}");
        }
        assert!(budget.reserve(later, 1) > Duration::ZERO);
    }

    #[test]
    fn within_the_rate_nothing_waits() {
        let mut budget = Budget::new(100, 0);
        let start = Instant::now();
        for n in 0..1_000 {
            let now = start + Duration::from_millis(10) * n;
            assert_eq!(budget.reserve(now, 1), Duration::ZERO, "at {n}");
        }
    }

    #[test]
    fn below_the_threshold_nothing_waits_above_it_the_budget_applies() {
        let mut budget = Budget::new(100, 50);
        let start = Instant::now();
        // 40 commands a second, one per transaction, far over the 100 a second burst...
        for n in 0..40 {
            let now = start + Duration::from_millis(25) * n;
            assert_eq!(budget.reserve(now, 1), Duration::ZERO, "quiet: at {n}");
        }
        // ...then 60 in a burst within one second: past 50, transactions queue.
        let busy = start + Duration::from_millis(1500);
        let waits: Vec<Duration> = (0..60).map(|_| budget.reserve(busy, 1)).collect();
        assert!(
            waits[..10].iter().all(Duration::is_zero),
            "under 50 this second"
        );
        assert_eq!(waits[59], Duration::from_millis(40), "the tenth paced one");
        // A quiet second later, everything starts at once again.
        let quiet = busy + Duration::from_secs(3);
        assert_eq!(budget.reserve(quiet, 1), Duration::ZERO);
    }

    #[test]
    fn zero_is_no_limit() {
        let mut budget = Budget::new(0, 0);
        let now = Instant::now();
        for _ in 0..1_000 {
            assert_eq!(budget.reserve(now, 1), Duration::ZERO);
        }
    }
}
