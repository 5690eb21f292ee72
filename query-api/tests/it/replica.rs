//! query-api reading a real streaming replica (pg_basebackup, hot standby) that replays
//! each commit 700 ms after the primary made it, while its change signal listens on the
//! primary. The signal arrives before the replica holds the rows; a subscription that read
//! on the signal alone would see the old version and then wait for a signal that never
//! comes. The change feed holds signals until the replica has replayed them.

use std::time::{Duration, Instant};

use serde_json::json;
use telemetry::Secret;
use testkit::postgres::Postgres;

use crate::subscriptions::{next_json, subscribe};
use crate::support::*;

const APPLY_DELAY: Duration = Duration::from_millis(700);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_and_read_your_writes_wait_for_the_replica_to_replay() {
    let (primary, replica) = tokio::task::spawn_blocking(|| {
        let primary = Postgres::start_fresh();
        let replica = primary.start_replica(APPLY_DELAY);
        (primary, replica)
    })
    .await
    .expect("primary and replica");
    let (primary_url, replica_url) = (primary.url(), replica.url());
    let listen_url = primary_url.clone();
    let platform = Platform::start_on(primary_url, move |config| {
        config.database_url = Secret::new(replica_url);
        config.notify_database_url = Some(Secret::new(listen_url));
    })
    .await;

    // Read-your-writes through the replica: the consistency token waits for its version.
    let placed = platform.place("cust-rep", "EUR", &[("R-1", 2, 350)]).await;
    let token = placed["consistency_token"].as_str().expect("token");
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let order = platform
        .data(
            "query($id: ID!, $t: String!) { order(id: $id, consistencyToken: $t) { version total { minorUnits } } }",
            json!({ "id": id, "t": token }),
        )
        .await;
    assert_eq!(
        order["order"],
        json!({ "version": 1, "total": { "minorUnits": 700 } })
    );
    platform.caught_up(token, "cust-rep").await;

    // Each update the primary announces reaches the subscriber with its rows.
    let mut updates = subscribe(
        &platform,
        &format!(r#"subscription {{ orderUpdated(id: "{id}") {{ version status }} }}"#),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    platform.pay(&id, 700, "EUR").await;
    let update = next_json(&mut updates).await;
    assert_eq!(
        update["payload"]["data"]["orderUpdated"],
        json!({ "version": 2, "status": "PAID" }),
        "{update}"
    );
    assert!(
        sent.elapsed() >= APPLY_DELAY,
        "the update came before the replica could hold it: {:?}",
        sent.elapsed()
    );

    // The replica's lag and the signals' waits are on /metrics.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = platform.metrics_page().await;
        let waited = page
            .lines()
            .find(|line| line.starts_with("orderlog_query_replica_wait_seconds_count"))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|count| count.parse::<f64>().ok())
            .unwrap_or(0.0);
        if page.contains("orderlog_query_replica_lag_seconds ") && waited >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica metrics missing from /metrics"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    platform.stop().await;
    drop(replica);
    drop(primary);
}
