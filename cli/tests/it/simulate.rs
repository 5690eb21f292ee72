//! `orderlog simulate`: the log's history replayed with another payment window.

use std::time::Duration;

use serde_json::Value;

use crate::support::Platform;

#[tokio::test]
async fn a_shorter_window_replayed_over_the_log_says_what_it_would_have_expired() {
    let platform = Platform::start().await;
    let late = platform.place("sim-1", &[("A-1", 2, 500)]).await;
    let in_time = platform.place("sim-2", &[("A-1", 1, 700)]).await;
    let never = platform.place("sim-3", &[("A-1", 1, 300)]).await;
    let cancelled = platform.place("sim-4", &[("A-1", 1, 900)]).await;
    platform.pay(&in_time, 700).await;
    platform.cancel(&cancelled).await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    platform.pay(&late, 1000).await;

    let run = platform
        .orderlog(&["simulate", "--payment-window", "2s", "--format", "json"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(report["orders"], 4, "{report}");
    assert_eq!(
        report["would_expire"], 2,
        "the late payer and the one never paid: {report}"
    );
    assert_eq!(report["would_expire_minor_by_currency"]["EUR"], 1300);
    assert_eq!(report["undecided"], 0);
    let paid_late = report["paid_after_window"].as_array().expect("a list");
    assert_eq!(paid_late.len(), 1, "{report}");
    assert_eq!(paid_late[0]["order_id"], late);
    assert_ne!(paid_late[0]["order_id"], never);

    // The platform's own 30-minute window: nothing would have expired yet.
    let run = platform
        .orderlog(&["simulate", "--payment-window", "30m"])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("0 would have expired"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("1 placed too close to the end of the log"),
        "the order never paid: {}",
        run.stdout
    );

    let bad = platform
        .orderlog(&["simulate", "--payment-window", "soon"])
        .await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("is not a duration"), "{}", bad.stderr);
    platform.stop().await;
}
