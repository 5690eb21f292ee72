//! GraphQL readers through the load balancer while instances come and go: each reads a
//! page of orders again and again. A read that fails is tried once more (the balancer
//! may have picked a server that was closing); one that fails twice is a failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug, Default)]
pub(crate) struct Reads {
    pub(crate) answered: u64,
    pub(crate) retried: u64,
    pub(crate) failed: Vec<String>,
}

const PAGE: &str = "{ orders(first: 5) { nodes { id version status } } }";

/// One try: `Err` with what went wrong.
async fn read(http: &reqwest::Client, url: &str) -> Result<(), String> {
    let response = http
        .post(url)
        .json(&json!({ "query": PAGE }))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() || body.get("errors").is_some() {
        return Err(format!("{status} {body}"));
    }
    Ok(())
}

pub(crate) async fn reader(http: reqwest::Client, base: String, stop: Arc<AtomicBool>) -> Reads {
    let url = format!("{base}/graphql");
    let mut reads = Reads::default();
    while !stop.load(Ordering::SeqCst) {
        match read(&http, &url).await {
            Ok(()) => reads.answered += 1,
            Err(_) => {
                reads.retried += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                match read(&http, &url).await {
                    Ok(()) => reads.answered += 1,
                    Err(error) => reads.failed.push(error),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reads
}
