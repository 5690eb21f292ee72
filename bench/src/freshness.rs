//! `bench freshness`: how long after a command's answer GraphQL shows its version. At a
//! fixed rate (open loop; 0 = idle: one client, one PlaceOrder after the other), each
//! command's answer carries its consistency token; right after it, `order(id,
//! consistencyToken)` asks query-api, which answers once the orders read model holds that
//! version (woken by the projectors' change signal). Freshness is the time from the
//! answer to that GraphQL answer; the command's own latency is recorded beside it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stats;

#[derive(Debug, clap::Args)]
pub(crate) struct Freshness {
    /// Base URL of command-api.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Base URL of query-api.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    query_url: String,
    #[command(flatten)]
    token: testkit::harness::auth::TokenArgs,
    /// Commands per second; 0 for an idle platform (one command at a time).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

const ORDER: &str =
    "query($id: ID!, $t: String!) { order(id: $id, consistencyToken: $t) { id version } }";

/// One command and its read: (command latency from `due`, freshness), or why not.
async fn one(
    http: &reqwest::Client,
    url: &str,
    query_url: &str,
    due: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    let response = http
        .post(format!("{url}/v1/orders"))
        .json(&crate::http_load::place())
        .send()
        .await?;
    let answered = Instant::now();
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    let id = body["order_id"].as_str().unwrap_or_default().to_owned();
    let token = body["consistency_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let read: Value = http
        .post(format!("{query_url}/graphql"))
        .json(&json!({ "query": ORDER, "variables": { "id": id, "t": token } }))
        .send()
        .await?
        .json()
        .await?;
    let fresh = answered.elapsed();
    anyhow::ensure!(read.get("errors").is_none(), "{read}");
    anyhow::ensure!(read["data"]["order"]["id"] == json!(id), "{read}");
    Ok((answered.duration_since(due), fresh))
}

/// Command latency and freshness at `rate` (0: idle) for `seconds`, and the failures.
pub(crate) async fn measure(
    http: &reqwest::Client,
    url: &str,
    query_url: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(stats::Summary, stats::Summary, u64)> {
    let (mut commands, mut freshness) = (stats::histogram(), stats::histogram());
    let mut failed = 0;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    if rate == 0 {
        while Instant::now() < deadline {
            match one(http, url, query_url, Instant::now()).await {
                Ok((command, fresh)) => {
                    stats::record(&mut commands, command);
                    stats::record(&mut freshness, fresh);
                }
                Err(_) => failed += 1,
            }
        }
    } else {
        let interval = Duration::from_secs(1) / u32::try_from(rate)?;
        let mut tasks = Vec::new();
        for n in 0..rate * seconds {
            let due = started + interval * u32::try_from(n)?;
            tokio::time::sleep_until(due.into()).await;
            let (http, url, query_url) = (http.clone(), url.to_owned(), query_url.to_owned());
            tasks.push(tokio::spawn(async move {
                one(&http, &url, &query_url, due).await
            }));
        }
        for task in tasks {
            match task.await? {
                Ok((command, fresh)) => {
                    stats::record(&mut commands, command);
                    stats::record(&mut freshness, fresh);
                }
                Err(_) => failed += 1,
            }
        }
    }
    Ok((
        stats::summary(&commands),
        stats::summary(&freshness),
        failed,
    ))
}

pub(crate) async fn run(args: Freshness) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .default_headers(args.token.headers()?)
        .build()?;
    let (commands, freshness, failed) =
        measure(&http, &args.url, &args.query_url, args.rate, args.seconds).await?;
    let at = if args.rate == 0 {
        "idle".to_owned()
    } else {
        format!("{} commands/s", args.rate)
    };
    println!("freshness {at} ({failed} failed): commands {commands}");
    println!("freshness {at}: answer to GraphQL {freshness}");
    Ok(())
}
