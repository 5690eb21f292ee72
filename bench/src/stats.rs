//! Latency percentiles, from an HDR histogram (microsecond resolution, three significant
//! digits): p50, p90, p99, p99.9 and the maximum.

use std::time::Duration;

use hdrhistogram::Histogram;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) p50: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) p999: Duration,
    pub(crate) max: Duration,
    pub(crate) mean: Duration,
}

/// An empty histogram of latencies in microseconds, from 1 µs to an hour.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// Records one latency (clamped into the histogram's range).
pub(crate) fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.max(1));
}

pub(crate) fn summarize(samples: Vec<Duration>) -> Summary {
    let mut histogram = histogram();
    for sample in samples {
        record(&mut histogram, sample);
    }
    summary(&histogram)
}

pub(crate) fn summary(histogram: &Histogram<u64>) -> Summary {
    if histogram.is_empty() {
        return Summary::default();
    }
    let at = |q: f64| Duration::from_micros(histogram.value_at_quantile(q));
    Summary {
        count: histogram.len(),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        max: Duration::from_micros(histogram.max()),
        mean: Duration::from_secs_f64(histogram.mean() / 1e6),
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{} samples, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
            self.count,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_samples() {
        let samples: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        let s = summarize(samples);
        assert_eq!(s.count, 1000);
        let near = |d: Duration, ms: u64| {
            d.abs_diff(Duration::from_millis(ms)) <= Duration::from_millis(1)
        };
        assert!(near(s.p50, 500), "{s}");
        assert!(near(s.p90, 900), "{s}");
        assert!(near(s.p99, 990), "{s}");
        assert!(near(s.p999, 999), "{s}");
        assert!(near(s.max, 1000), "{s}");
    }

    #[test]
    fn no_samples_is_all_zero() {
        let s = summarize(Vec::new());
        assert_eq!(s.count, 0);
        assert_eq!(s.max, Duration::ZERO);
    }
}
