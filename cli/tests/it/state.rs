//! `orderlog order state`: the order as it was at a moment or a version.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::Value;

use crate::support::Platform;

#[tokio::test]
async fn order_state_at_a_moment_matches_the_order_then() {
    let platform = Platform::start().await;
    let order = platform.place("cust-1", &[("A-1", 2, 500)]).await;
    platform.add_line(&order, "B-2", 1, 250).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    tokio::time::sleep(Duration::from_millis(50)).await;
    platform.pay(&order, 1250).await;

    let run = platform
        .orderlog(&["order", "state", &order, "--at", &between])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let then: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(then["version"], 2);
    assert_eq!(then["latest_version"], 3);
    assert_eq!(then["state"]["status"], "placed");
    assert_eq!(then["state"]["lines"].as_array().expect("lines").len(), 2);
    assert_eq!(then["state"]["total"]["amount_minor"], 1250);
    assert!(then["state"]["payment"].is_null());
    assert_eq!(then["history"].as_array().expect("history").len(), 2);

    let now: Value =
        serde_json::from_str(&platform.orderlog(&["order", "state", &order]).await.stdout)
            .expect("json");
    assert_eq!(now["state"]["status"], "paid");
    assert_eq!(
        now["history"][2]["type"],
        "dev.orderlog.order.payment_confirmed"
    );

    let first: Value = serde_json::from_str(
        &platform
            .orderlog(&["order", "state", &order, "--version", "1"])
            .await
            .stdout,
    )
    .expect("json");
    assert_eq!(first["state"]["lines"].as_array().expect("lines").len(), 1);

    // Before it existed, and a version it never had: one-line errors.
    let before = platform
        .orderlog(&["order", "state", &order, "--at", "2000-01-01"])
        .await;
    assert_eq!(before.code, 2);
    assert!(
        before.stderr.starts_with(&format!(
            "orderlog: order {order} did not exist at 2000-01-01T00:00:00"
        )),
        "{}",
        before.stderr
    );
    let beyond = platform
        .orderlog(&["order", "state", &order, "--version", "9"])
        .await;
    assert_eq!(beyond.code, 2);
    assert_eq!(
        beyond.stderr.trim(),
        format!("orderlog: order {order} has versions 1 to 3; there is no version 9")
    );
    let unknown = platform
        .orderlog(&["order", "state", &uuid::Uuid::now_v7().to_string()])
        .await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("has no events"),
        "{}",
        unknown.stderr
    );
    platform.stop().await;
}
