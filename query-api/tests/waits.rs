//! Consistency waits cannot multiply: one request with 200 aliases of
//! `order(id, minVersion: 99999)` shares one deadline and a few turns at the database, so it
//! checks the read model a few dozen times, not 200 times per re-check. Its own test
//! binary, so the process's metrics count this test's checks alone.

use serde_json::json;

use testkit::query_platform::QueryPlatform as Platform;

async fn checks(platform: &Platform) -> f64 {
    let page = platform.metrics_page().await;
    page.lines()
        .find_map(|line| line.strip_prefix("orderlog_query_freshness_checks_total "))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn two_hundred_waiting_aliases_cost_what_a_few_waits_cost() {
    let platform = Platform::start_with(|config| config.freshness_wait_ms = 1_500).await;
    let placed = platform.place("waits", "EUR", &[("W-1", 1, 100)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let aliases: String = (0..200)
        .map(|n| format!("a{n}: order(id: \"{id}\", minVersion: 99999) {{ id }} "))
        .collect();
    let query = format!("{{ {aliases}}}");
    assert!(query.len() < 16 * 1024, "within the query size limit");

    let before = checks(&platform).await;
    let body = platform.graphql(&query, json!({})).await;
    let after = checks(&platform).await;

    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 200, "every alias is answered: {body}");
    assert!(
        errors
            .iter()
            .all(|e| e["extensions"]["code"] == "READ_MODEL_BEHIND"),
        "{body}"
    );
    // 4 turns re-checking every 250 ms for 1.5 s: about 28 checks. Each alias on its own
    // re-checked 7 times: 1,400.
    let spent = after - before;
    assert!(
        spent <= 100.0,
        "{spent} checks of the read model for one request"
    );
    platform.stop().await;
}
