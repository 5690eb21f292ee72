//! HTTP command load: a realistic mix of PlaceOrder and AddLine against a running command-api.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::stats::{Summary, summarize};

#[derive(Debug, clap::Args)]
pub(crate) struct Throughput {
    /// Base URL of command-api.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[command(flatten)]
    token: testkit::harness::auth::TokenArgs,
    /// Concurrent clients.
    #[arg(long, default_value_t = 256)]
    clients: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Latency {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[command(flatten)]
    token: testkit::harness::auth::TokenArgs,
    /// Commands per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
}

pub(crate) fn place() -> Value {
    json!({
        "customer_id": format!("cust-{}", fastrand() % 10_000),
        "currency": "EUR",
        "lines": [{ "sku": "A-1", "quantity": 1, "unit_price": { "amount_minor": 1999, "currency": "EUR" } }],
        "shipping_address": { "name": "Load Test", "line1": "1 Bench St", "city": "Berlin", "postal_code": "10115", "country": "DE" }
    })
}

fn add_line(n: u64) -> Value {
    json!({ "sku": format!("S-{n}"), "quantity": 1, "unit_price": { "amount_minor": 500, "currency": "EUR" } })
}

fn fastrand() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_fields().0)
}

/// One command of the mix: every fifth places an order, the others add a line to it.
async fn one(
    client: &reqwest::Client,
    url: &str,
    order: &mut Option<String>,
    n: u64,
) -> anyhow::Result<()> {
    let response = match order.as_deref() {
        Some(id) if !n.is_multiple_of(5) => {
            client
                .post(format!("{url}/v1/orders/{id}/lines"))
                .json(&add_line(n))
                .send()
                .await?
        }
        _ => {
            client
                .post(format!("{url}/v1/orders"))
                .json(&place())
                .send()
                .await?
        }
    };
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    if let Some(id) = body["order_id"].as_str() {
        *order = Some(id.to_owned());
    }
    Ok(())
}

pub(crate) async fn throughput(args: Throughput) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .default_headers(args.token.headers()?)
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let (rate, latency, failed) =
        measure_throughput(&client, &args.url, args.clients, args.seconds).await?;
    println!(
        "throughput: {rate:.0} commands/s with {} clients for {} s ({failed} failed); latency {latency}",
        args.clients, args.seconds
    );
    Ok(())
}

/// Commands/s `clients` closed-loop clients push for `seconds`, their latency, failures.
pub(crate) async fn measure_throughput(
    client: &reqwest::Client,
    url: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(f64, Summary, u64)> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url, done, failed) =
                (client.clone(), url.to_owned(), done.clone(), failed.clone());
            tokio::spawn(async move {
                let mut order = None;
                let mut samples = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match one(&client, &url, &mut order, n).await {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::Relaxed);
                            samples.push(sent.elapsed());
                        }
                        Err(error) => {
                            if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("command failed: {error}");
                            }
                        }
                    }
                    n += 1;
                }
                samples
            })
        })
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let done = done.load(Ordering::Relaxed);
    Ok((
        done as f64 / elapsed,
        summarize(samples),
        failed.load(Ordering::Relaxed),
    ))
}

pub(crate) async fn latency(args: Latency) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .default_headers(args.token.headers()?)
        .build()?;
    let (summary, failed) = measure_latency(&client, &args.url, args.rate, args.seconds).await?;
    println!(
        "latency at {} commands/s for {} s ({failed} failed): {summary}",
        args.rate, args.seconds
    );
    Ok(())
}

/// Latency at a fixed `rate` for `seconds`, open loop, each command timed from its
/// intended start; and the failures.
pub(crate) async fn measure_latency(
    client: &reqwest::Client,
    url: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(Summary, u64)> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = rate * seconds;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    // Open-loop: commands leave on schedule whether or not earlier ones have answered.
    for n in 0..total {
        let due = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(due.into()).await;
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut order = None;
            let result = one(&client, &url, &mut order, 0).await;
            // From the intended start: a command held up behind a slow one counts its wait.
            result.map(|()| due.elapsed())
        }));
    }
    let mut samples = Vec::new();
    let mut failed = 0;
    for task in tasks {
        match task.await? {
            Ok(sample) => samples.push(sample),
            Err(_) => failed += 1,
        }
    }
    Ok((summarize(samples), failed))
}
