//! Reading a service's Prometheus page, in tests, suites and benchmarks.

/// A counter's (or gauge's) sum over its series in a Prometheus text page.
pub fn sum(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `name`'s sum on the `/metrics` of the service at `url` (0 when it cannot be read).
#[cfg(any(feature = "http", feature = "harness"))]
pub async fn scraped_sum(http: &reqwest::Client, url: &str, name: &str) -> f64 {
    let Ok(response) = http.get(format!("{url}/metrics")).send().await else {
        return 0.0;
    };
    sum(&response.text().await.unwrap_or_default(), name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_series_of_the_name_and_no_other_name_is_summed() {
        let page = "# TYPE a_total counter\na_total{x=\"1\"} 2\na_total{x=\"2\"} 3.5\na_total_more 7\nb 1\na_total 1\n";
        assert!((super::sum(page, "a_total") - 6.5).abs() < 1e-9);
        assert!(super::sum(page, "c").abs() < 1e-9);
    }
}
