//! query-api's cache counters, scraped around a run.

/// query-api's cache counters (or their change over a run), to tell hit ratios.
pub(crate) struct CacheCounts([f64; 4]);

const CACHE_COUNTERS: [&str; 4] = [
    "orderlog_query_answer_cache_hits_total",
    "orderlog_query_answer_cache_misses_total",
    "orderlog_query_cache_hits_total",
    "orderlog_query_cache_misses_total",
];

impl CacheCounts {
    pub(super) async fn scrape(http: &reqwest::Client, url: &str) -> Self {
        let mut counts = [0.0; 4];
        for (count, name) in counts.iter_mut().zip(CACHE_COUNTERS) {
            *count = testkit::metrics::scraped_sum(http, url, name).await;
        }
        Self(counts)
    }

    pub(super) fn until(&self, after: &Self) -> Self {
        Self(std::array::from_fn(|i| after.0[i] - self.0[i]))
    }

    /// The share of requests answered from kept answers.
    pub(crate) fn answers_kept(&self) -> f64 {
        self.0[0] / (self.0[0] + self.0[1]).max(1.0)
    }
}

impl std::fmt::Display for CacheCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.0;
        let ratio = |hits: f64, misses: f64| 100.0 * hits / (hits + misses).max(1.0);
        write!(
            f,
            "cache: {:.1}% of answers kept ({:.0} hits, {:.0} misses); {:.1}% of the rest from kept orders ({:.0} hits, {:.0} misses)",
            ratio(d[0], d[1]),
            d[0],
            d[1],
            ratio(d[2], d[3]),
            d[2],
            d[3]
        )
    }
}
