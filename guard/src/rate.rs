//! A token bucket per token subject: `per_second` requests on average, `burst` at once.
//! Integer arithmetic in thousandths of a request; the map forgets idle subjects.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most subjects remembered before idle ones are forgotten.
const MAX_SUBJECTS: usize = 100_000;

#[derive(Debug)]
pub struct RateLimiter {
    per_second: u64,
    burst_milli: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli: u64,
    at: Instant,
}

impl RateLimiter {
    /// `per_second` of 0 turns the limit off.
    pub fn new(per_second: u64, burst: u64) -> Self {
        Self {
            per_second,
            burst_milli: burst.max(1).saturating_mul(1000),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `subject`'s bucket, or says in how many seconds one is there.
    pub fn check(&self, subject: &str, now: Instant) -> Result<(), u64> {
        if self.per_second == 0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_SUBJECTS && !buckets.contains_key(subject) {
            let full_after = self.full_after();
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < full_after);
        }
        let bucket = buckets.entry(subject.to_owned()).or_insert(Bucket {
            milli: self.burst_milli,
            at: now,
        });
        let elapsed_ms =
            u64::try_from(now.saturating_duration_since(bucket.at).as_millis()).unwrap_or(u64::MAX);
        bucket.milli = bucket
            .milli
            .saturating_add(elapsed_ms.saturating_mul(self.per_second))
            .min(self.burst_milli);
        bucket.at = now;
        if bucket.milli >= 1000 {
            bucket.milli -= 1000;
            return Ok(());
        }
        let missing_ms = (1000 - bucket.milli).div_ceil(self.per_second);
        Err(missing_ms.div_ceil(1000).max(1))
    }

    /// How long an empty bucket takes to fill.
    fn full_after(&self) -> Duration {
        Duration::from_millis(self.burst_milli.div_ceil(self.per_second.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_gets_its_burst_then_waits_and_recovers() {
        let limiter = RateLimiter::new(2, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("a", start), Ok(()));
        }
        assert_eq!(limiter.check("a", start), Err(1));
        // Another subject has its own bucket.
        assert_eq!(limiter.check("b", start), Ok(()));
        // Half a second later one request is back (2 per second).
        assert_eq!(
            limiter.check("a", start + Duration::from_millis(500)),
            Ok(())
        );
        assert_eq!(
            limiter.check("a", start + Duration::from_millis(500)),
            Err(1)
        );
        // The bucket never holds more than the burst.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.check("a", later), Ok(()));
        }
        assert!(limiter.check("a", later).is_err());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0, 0);
        let now = Instant::now();
        assert!((0..10_000).all(|_| limiter.check("a", now).is_ok()));
    }
}
