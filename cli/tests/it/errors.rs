//! Bad input: one line on stderr and a non-zero exit, never a panic; help everywhere.

use crate::support::{Platform, orderlog_bare};

#[tokio::test]
async fn an_unreachable_broker_is_one_line_and_exit_2() {
    let run = orderlog_bare(&[
        "--bootstrap",
        "127.0.0.1:1",
        "--timeout",
        "2",
        "events",
        "replay",
    ])
    .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("orderlog: cannot reach Kafka at 127.0.0.1:1 within 2 s"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{}", run.stderr);
}

#[tokio::test]
async fn bad_arguments_are_refused_before_reading_anything() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["events", "replay", "--type", "teleported"],
            "orderlog: unknown event type `teleported`; known: placed,",
        ),
        (
            &["events", "replay", "--from", "yesterday"],
            "orderlog: `yesterday` is not a time or offset",
        ),
        (
            &["events", "replay", "--from", "-1h", "--to", "-2h"],
            "orderlog: the range is empty",
        ),
        (
            &["events", "replay", "--order", "nope"],
            "orderlog: `nope` is not an order id (a UUID)",
        ),
        (
            &["order", "state", "nope"],
            "orderlog: `nope` is not an order id (a UUID)",
        ),
    ];
    for (args, message) in cases {
        let run = orderlog_bare(args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with(message), "{args:?}: {}", run.stderr);
        assert_eq!(
            run.stderr.trim_end().lines().count(),
            1,
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn an_unknown_topic_prefix_is_named() {
    let platform = Platform::start().await;
    let run = orderlog_bare(&[
        "--bootstrap",
        &crate::support::bootstrap(),
        "--topic-prefix",
        "nobody-here.",
        "stats",
    ])
    .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("orderlog: topic nobody-here.order-events does not exist"),
        "{}",
        run.stderr
    );
    platform.stop().await;
}

#[tokio::test]
async fn every_subcommand_has_help_with_examples() {
    for args in [
        &["--help"][..],
        &["events", "replay", "--help"],
        &["events", "tail", "--help"],
        &["order", "state", "--help"],
        &["verify", "--help"],
        &["stats", "--help"],
    ] {
        let run = orderlog_bare(args).await;
        assert_eq!(run.code, 0, "{args:?}");
        assert!(run.stdout.contains("Examples:"), "{args:?}: {}", run.stdout);
    }
}

#[tokio::test]
async fn stats_count_per_type_and_day() {
    let platform = Platform::start().await;
    let order = platform.place("cust-1", &[("A-1", 1, 100)]).await;
    platform.pay(&order, 100).await;
    platform.place("cust-2", &[("A-1", 1, 100)]).await;
    let run = platform.orderlog(&["stats", "--format", "json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stats: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(stats["total"], 3);
    assert_eq!(stats["by_type"]["dev.orderlog.order.placed"], 2);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(
        stats["by_day"][&today]["dev.orderlog.order.payment_confirmed"],
        1
    );
    platform.stop().await;
}
