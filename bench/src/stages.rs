//! Where a command's time goes, read from command-api's `/metrics` around a run: the mean
//! of each stage of `orderlog_command_stage_seconds` and of each transaction phase, over
//! the commands of that run only (the difference of two scrapes).

use std::collections::BTreeMap;

/// The histograms read, and the label naming their parts.
const SERIES: [(&str, &str); 2] = [
    ("orderlog_command_stage_seconds", "stage"),
    ("orderlog_processor_transaction_phase_seconds", "phase"),
];

/// Sum and count of every stage and phase, by name (`stage:produce`, `phase:commit`).
pub(crate) type Scrape = BTreeMap<String, (f64, f64)>;

pub(crate) async fn scrape(http: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse(&text))
}

fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::new();
    for line in text.lines() {
        for (name, label) in SERIES {
            for (suffix, index) in [("_sum{", 0), ("_count{", 1)] {
                let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix(suffix))
                else {
                    continue;
                };
                let Some((labels, value)) = rest.rsplit_once("} ") else {
                    continue;
                };
                let Some(part) = labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{label}=\"")))
                    .and_then(|v| v.strip_suffix('"'))
                else {
                    continue;
                };
                let Ok(value) = value.trim().parse::<f64>() else {
                    continue;
                };
                let entry = scrape.entry(format!("{label}:{part}")).or_default();
                if index == 0 {
                    entry.0 += value;
                } else {
                    entry.1 += value;
                }
            }
        }
    }
    scrape
}

/// The mean of each stage and phase between two scrapes, in milliseconds.
pub(crate) fn means(before: &Scrape, after: &Scrape) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(name, (sum, count))| {
            let (sum0, count0) = before.get(name).copied().unwrap_or_default();
            let n = count - count0;
            (n > 0.0).then(|| (name.clone(), (sum - sum0) / n * 1e3))
        })
        .collect()
}

/// One line for the table: the stages in a command's order, then the phases.
pub(crate) fn describe(means: &BTreeMap<String, f64>) -> String {
    let order = [
        "stage:produce",
        "stage:to_processor",
        "stage:to_transaction",
        "stage:handed_to_transaction",
        "phase:decide_and_send",
        "phase:deliver",
        "phase:commit",
        "stage:result_to_listener",
        "stage:await_result",
        "stage:direct",
    ];
    order
        .iter()
        .filter_map(|name| {
            let mean = means.get(*name)?;
            let short = name.split_once(':').map_or(*name, |(_, n)| n);
            Some(format!("{short} {mean:.1}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_cover_only_what_happened_between_the_scrapes() {
        let before = parse(
            "orderlog_command_stage_seconds_sum{stage=\"produce\"} 1\n\
             orderlog_command_stage_seconds_count{stage=\"produce\"} 100\n\
             orderlog_processor_transaction_phase_seconds_sum{partition=\"1\",phase=\"commit\"} 2\n\
             orderlog_processor_transaction_phase_seconds_count{partition=\"1\",phase=\"commit\"} 10\n",
        );
        let after = parse(
            "# HELP x\n\
             orderlog_command_stage_seconds_sum{stage=\"produce\"} 1.5\n\
             orderlog_command_stage_seconds_count{stage=\"produce\"} 200\n\
             orderlog_command_stage_seconds_bucket{stage=\"produce\",le=\"0.1\"} 200\n\
             orderlog_processor_transaction_phase_seconds_sum{partition=\"1\",phase=\"commit\"} 2\n\
             orderlog_processor_transaction_phase_seconds_count{partition=\"1\",phase=\"commit\"} 10\n\
             orderlog_command_stage_seconds_sum{stage=\"await_result\"} 0.3\n\
             orderlog_command_stage_seconds_count{stage=\"await_result\"} 100\n",
        );
        let means = means(&before, &after);
        assert_eq!(means.len(), 2, "{means:?}");
        assert!((means["stage:produce"] - 5.0).abs() < 1e-9);
        assert!((means["stage:await_result"] - 3.0).abs() < 1e-9);
        assert_eq!(describe(&means), "produce 5.0, await_result 3.0");
    }
}
