//! Replays: bounded by time, filtered, in CSV, and tails that follow.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::Value;

use crate::support::{Platform, lines};

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Per order, versions come in order with no gap.
fn assert_in_order_per_order(events: &[Value]) {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for event in events {
        let order = event["subject"].as_str().expect("subject");
        let version = event["orderversion"].as_u64().expect("version");
        if let Some(previous) = last.insert(order, version) {
            assert_eq!(version, previous + 1, "order {order} out of order");
        }
    }
}

#[tokio::test]
async fn a_replay_bounded_by_time_returns_exactly_the_events_in_the_range() {
    let platform = Platform::start().await;
    let mut orders = Vec::new();
    for i in 0..4 {
        orders.push(
            platform
                .place(&format!("early-{i}"), &[("A-1", 1, 100)])
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let from = Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (i, order) in orders.iter().enumerate() {
        platform.add_line(order, &format!("B-{i}"), 2, 250).await;
        platform.pay(order, 100 + 500).await;
    }
    let middle = platform.place("middle", &[("C-1", 3, 10)]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let to = Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    platform.cancel(&middle).await;
    platform.place("late", &[("D-1", 1, 1)]).await;

    let everything = lines(&platform.orderlog(&["events", "replay"]).await);
    assert_eq!(everything.len(), 4 + 8 + 1 + 2);
    assert_in_order_per_order(&everything);

    let (from_text, to_text) = (
        from.to_rfc3339_opts(SecondsFormat::Micros, true),
        to.to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    let ranged = lines(
        &platform
            .orderlog(&["events", "replay", "--from", &from_text, "--to", &to_text])
            .await,
    );
    let expected: Vec<&Value> = everything
        .iter()
        .filter(|e| {
            let at = chrono::DateTime::parse_from_rfc3339(e["time"].as_str().expect("time"))
                .expect("time");
            at >= from && at < to
        })
        .collect();
    assert_eq!(ranged.len(), 9, "4 lines added, 4 payments, 1 placement");
    let mut got = ids(&ranged);
    let mut want: Vec<String> = expected
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_in_order_per_order(&ranged);
    for event in &ranged {
        assert_ne!(event["type"], "dev.orderlog.order.cancelled");
        assert!(
            event["data"].is_object(),
            "data is JSON, not a string: {event}"
        );
    }

    // Relative bounds work and an all-covering one returns everything.
    assert_eq!(
        lines(
            &platform
                .orderlog(&["events", "replay", "--from", "-1h"])
                .await
        )
        .len(),
        everything.len()
    );
    platform.stop().await;
}

#[tokio::test]
async fn filters_and_csv_select_and_shape_the_output() {
    let platform = Platform::start().await;
    let first = platform.place("cust-a", &[("A-1", 1, 100)]).await;
    let second = platform.place("cust-b", &[("B-1", 2, 300)]).await;
    platform.pay(&first, 100).await;
    platform.pay(&second, 600).await;
    platform.cancel(&second).await;

    let paid = lines(
        &platform
            .orderlog(&["events", "replay", "--type", "payment_confirmed"])
            .await,
    );
    assert_eq!(paid.len(), 2);
    assert!(
        paid.iter()
            .all(|e| e["type"] == "dev.orderlog.order.payment_confirmed")
    );
    assert_eq!(paid[0]["data"]["amount"]["currency"], "EUR");

    let one = lines(
        &platform
            .orderlog(&["events", "replay", "--order", &second])
            .await,
    );
    assert_eq!(
        one.iter()
            .map(|e| e["orderversion"].as_u64().expect("v"))
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );

    let customer = lines(
        &platform
            .orderlog(&[
                "events",
                "replay",
                "--customer",
                "cust-a",
                "--type",
                "placed,payment_confirmed",
            ])
            .await,
    );
    assert_eq!(customer.len(), 2);
    assert!(customer.iter().all(|e| e["subject"] == first.as_str()));

    let dir = std::env::temp_dir().join(format!("orderlog-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("events.csv");
    let run = platform
        .orderlog(&[
            "events",
            "replay",
            "--format",
            "csv",
            "-o",
            file.to_str().expect("path"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "with -o nothing goes to stdout");
    let csv = std::fs::read_to_string(&file).expect("csv written");
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some(
            "time,type,order_id,order_version,event_id,correlation_id,causation_id,schema_version,partition,offset,data"
        )
    );
    assert_eq!(rows.count(), 5);
    let _ = std::fs::remove_dir_all(dir);
    platform.stop().await;
}

#[tokio::test]
async fn tail_follows_new_events_with_the_same_filters() {
    let platform = Platform::start().await;
    platform.place("before", &[("A-1", 1, 100)]).await;
    let mut tail = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderlog"))
        .args(["events", "tail", "--type", "placed"])
        .env("ORDERLOG_KAFKA_BOOTSTRAP", crate::support::bootstrap())
        .env("ORDERLOG_TOPIC_PREFIX", &platform.prefix)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("tail starts");
    let stdout = tail.stdout.take().expect("stdout");
    let mut reader = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    // Tail starts at the end: keep placing until the tail is surely running, then read.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let order = platform.place("after", &[("A-1", 1, 100)]).await;
    platform.pay(&order, 100).await;
    let line = tokio::time::timeout(Duration::from_secs(20), reader.next_line())
        .await
        .expect("a line in time")
        .expect("read");
    let event: Value = serde_json::from_str(&line.expect("a line")).expect("json");
    assert_eq!(
        event["subject"],
        order.as_str(),
        "the event before the tail started is not repeated"
    );
    assert_eq!(event["type"], "dev.orderlog.order.placed");
    tail.kill().await.expect("kill");
    platform.stop().await;
}
