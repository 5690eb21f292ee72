//! Two query-api instances behind HAProxy, balancing every request (not sticky), each with
//! its own read cache over the same read models: a client that passes what it last saw (the
//! consistency token of its last command, the highest version it has read) never goes back
//! in time, whichever instance answers, while commands change the order.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const ORDER: &str = "query($id: ID!, $t: String, $v: Int) { order(id: $id, consistencyToken: $t, minVersion: $v) { version lines { sku } } }";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// GraphQL requests a query-api answered so far.
async fn graphql_requests(http: &reqwest::Client, url: &str) -> f64 {
    let page = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    page.lines()
        .filter(|l| {
            l.starts_with("orderlog_http_requests_total{") && l.contains("route=\"/graphql\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_client_passing_what_it_saw_never_goes_back_in_time_across_two_instances() {
    let database = testkit::fresh_database().await;
    let platform = Platform::start_on(database.clone(), |_| {}).await;
    let mut config = testkit::platform::query_api_config(&database);
    config.freshness_wait_ms = 20_000;
    let (second, _running) = testkit::platform::start_query_api(config).await;
    let queries = free_port();
    let balancer_config = testkit::balancer::config(
        free_port(),
        &[port_of(&platform.commands)],
        queries,
        &[port_of(&platform.query), port_of(&second)],
    );
    let dir = std::env::temp_dir().join(format!("orderlog-balancer-{queries}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let _balancer = testkit::balancer::Balancer::start(&balancer_config, &dir).expect("haproxy");
    let balanced = format!("http://127.0.0.1:{queries}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !platform
        .http
        .get(format!("{balanced}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "HAProxy never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = [
        graphql_requests(&platform.http, &platform.query).await,
        graphql_requests(&platform.http, &second).await,
    ];

    let placed = platform.place("balanced", "EUR", &[("B-0", 1, 100)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let mut token = placed["consistency_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut seen = 0_i64;
    for round in 1..=12 {
        if round % 2 == 0 {
            let answer = platform
                .command(
                    Method::POST,
                    &format!("/v1/orders/{id}/lines"),
                    json!({ "sku": format!("B-{round}"), "quantity": 1, "unit_price": { "amount_minor": 100, "currency": "EUR" } }),
                )
                .await;
            token = answer["consistency_token"]
                .as_str()
                .expect("token")
                .to_owned();
        }
        for _ in 0..4 {
            let body: Value = platform
                .http
                .post(format!("{balanced}/graphql"))
                .json(&json!({ "query": ORDER, "variables": { "id": id, "t": token, "v": seen.max(1) } }))
                .send()
                .await
                .expect("through HAProxy")
                .json()
                .await
                .expect("json");
            assert!(body.get("errors").is_none(), "{body}");
            let version = body["data"]["order"]["version"].as_i64().expect("version");
            let wanted: i64 = token
                .rsplit('@')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("token version");
            assert!(
                version >= seen && version >= wanted,
                "round {round}: read version {version} after seeing {seen} (token of {wanted})"
            );
            let lines = body["data"]["order"]["lines"]
                .as_array()
                .expect("lines")
                .len();
            assert_eq!(
                lines as i64, version,
                "lines and version from one read: {body}"
            );
            seen = version;
        }
    }
    let after = [
        graphql_requests(&platform.http, &platform.query).await,
        graphql_requests(&platform.http, &second).await,
    ];
    assert!(
        after[0] - before[0] >= 10.0 && after[1] - before[1] >= 10.0,
        "both instances answered: {before:?} -> {after:?}"
    );
    platform.stop().await;
}
