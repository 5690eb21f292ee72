//! Progress on stderr (events, rate, eta), only when stderr is a terminal.

// Rates and shares are display-only floats; money never passes through here.
#![allow(clippy::float_arithmetic)]

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    enabled: bool,
    started: Instant,
    shown: Instant,
    total: Option<i64>,
}

impl Progress {
    /// `total`: offsets to read, when the range is bounded.
    pub fn new(total: Option<i64>) -> Self {
        let now = Instant::now();
        Self {
            enabled: std::io::stderr().is_terminal(),
            started: now,
            shown: now,
            total,
        }
    }

    /// Shows `read` offsets read and `matched` events written, at most four times a second.
    pub fn tick(&mut self, read: i64, matched: u64) {
        if !self.enabled || self.shown.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.shown = Instant::now();
        eprint!(
            "\r\x1b[2K{}",
            line(read, matched, self.started.elapsed(), self.total)
        );
        let _ = std::io::stderr().flush();
    }

    pub fn finish(&mut self, read: i64, matched: u64) {
        if self.enabled {
            eprintln!(
                "\r\x1b[2K{}",
                line(read, matched, self.started.elapsed(), self.total)
            );
        }
    }
}

/// `12,000 of 50,000 read (24%), 3,100 matched, 41,200 events/s, eta 1 s`.
pub fn line(read: i64, matched: u64, elapsed: Duration, total: Option<i64>) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-3);
    let rate = read as f64 / seconds;
    match total {
        Some(total) if total > 0 => {
            let left = (total - read).max(0) as f64;
            let eta = if rate > 0.0 {
                format!("{:.0} s", left / rate)
            } else {
                "?".to_owned()
            };
            format!(
                "{read} of {total} read ({:.0}%), {matched} matched, {rate:.0} events/s, eta {eta}",
                (read as f64 * 100.0 / total as f64).min(100.0)
            )
        }
        _ => format!("{read} read, {matched} matched, {rate:.0} events/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_share_rate_and_eta() {
        assert_eq!(
            line(5_000, 100, Duration::from_secs(1), Some(20_000)),
            "5000 of 20000 read (25%), 100 matched, 5000 events/s, eta 3 s"
        );
        assert_eq!(
            line(10, 10, Duration::from_secs(2), None),
            "10 read, 10 matched, 5 events/s"
        );
    }
}
