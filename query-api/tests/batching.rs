//! No N+1: nested fields of a page load in one query per field, whatever the page size.
//! Its own test binary, so the process's metrics hold this test's loads alone.

use serde_json::json;

use testkit::query_platform::QueryPlatform as Platform;

/// `name{loader="x"} value` from a Prometheus text page.
fn metric(page: &str, name: &str, loader: &str) -> f64 {
    let prefix = format!("{name}{{loader=\"{loader}\"}} ");
    page.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn nested_fields_of_a_page_load_in_one_batch_each() {
    let platform = Platform::start().await;
    let mut placed = Vec::new();
    for i in 0..25 {
        let customer = format!("batch-{}", i % 5);
        let answer = platform
            .place(&customer, "EUR", &[("A-1", 1, 100), ("B-2", 2, 50)])
            .await;
        placed.push((
            answer["consistency_token"]
                .as_str()
                .expect("token")
                .to_owned(),
            customer,
        ));
    }
    for (token, customer) in &placed {
        platform.caught_up(token, customer).await;
    }
    let before = platform.metrics_page().await;

    let query = "{ orders(first: 25) { nodes { id lines { sku } history { type } customer { stats { orders } } } } }";
    let data = platform.data(query, json!({})).await;
    let nodes = data["orders"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 25);
    assert!(
        nodes
            .iter()
            .all(|n| n["lines"].as_array().expect("lines").len() == 2)
    );

    let after = platform.metrics_page().await;
    let batches = |loader| {
        metric(&after, "orderlog_query_loader_keys_count", loader)
            - metric(&before, "orderlog_query_loader_keys_count", loader)
    };
    let keys = |loader| {
        metric(&after, "orderlog_query_loader_keys_sum", loader)
            - metric(&before, "orderlog_query_loader_keys_sum", loader)
    };
    assert_eq!(
        (batches("lines"), keys("lines")),
        (1.0, 25.0),
        "one query for the lines of 25 orders"
    );
    assert_eq!(
        (batches("history"), keys("history")),
        (1.0, 25.0),
        "one query for their histories"
    );
    assert_eq!(
        (batches("customer_stats"), keys("customer_stats")),
        (1.0, 5.0),
        "one query for their 5 customers"
    );
    platform.stop().await;
}
