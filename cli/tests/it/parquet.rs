//! `orderlog export parquet` and `export state` against a live platform, read by DuckDB
//! with the queries docs/analysts.md gives analysts, run as written: the counts per type and
//! day equal `orderlog stats`, the sales per day equal the `daily_sales` read model.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use schemas::order::fold;

use crate::history;
use crate::support::Platform;

/// Where the docs' examples read from; the tests put their own directory there.
pub(crate) const DOCS_DIR: &str = "/data/orderlog";

pub(crate) fn python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/venv/bin/python")
}

/// The first `language` block of docs/analysts.md, on the test's directory `dir`.
pub(crate) fn documented(language: &str, dir: &Path) -> String {
    let docs = include_str!("../../../docs/analysts.md");
    let fence = format!("```{language}\n");
    let start = docs
        .find(&fence)
        .unwrap_or_else(|| panic!("docs/analysts.md has a {language} example"))
        + fence.len();
    let block = &docs[start..];
    let block = &block[..block.find("```").expect("the block ends")];
    block.replace(DOCS_DIR, dir.to_str().expect("path"))
}

/// The statements of the docs' DuckDB example.
pub(crate) fn documented_queries(dir: &Path) -> Vec<String> {
    documented("sql", dir)
        .split(";\n")
        .map(|statement| statement.trim())
        .filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"))
        })
        .map(str::to_owned)
        .collect()
}

const RUN: &str = r#"
import duckdb, json, sys
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
print(json.dumps([[[str(v) for v in row] for row in con.execute(q).fetchall()] for q in json.loads(sys.argv[1])]))
"#;

/// Runs `queries` in DuckDB; every value comes back as text.
pub(crate) async fn duckdb(queries: &[String]) -> Vec<Vec<Vec<String>>> {
    let output = tokio::process::Command::new(python())
        .args(["-c", RUN, &serde_json::to_string(queries).expect("json")])
        .output()
        .await
        .expect("python with duckdb (make test installs it)");
    assert!(
        output.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orderlog-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[tokio::test]
async fn an_export_read_by_duckdb_counts_what_stats_counts_and_sells_what_daily_sales_holds() {
    let platform = Platform::start().await;
    let topic = event_store::TopicSet::new(&platform.prefix).events;
    let past = history::orders(48, 3);
    let placed_v1 = past.iter().filter(|w| w.is_old_placement()).count();
    let mut events = history::write(&topic, 3, &past);
    let first = platform.place("cust-live", &[("A-1", 2, 500)]).await;
    platform.pay(&first, 1000).await;
    events += 2;
    platform.caught_up(events as i64).await;

    let dir = temp_dir();
    let out = dir.join("export");
    let out_arg = out.to_str().expect("path");
    let run = platform
        .orderlog(&["export", "parquet", "--out", out_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("committed {events} events")),
        "{}",
        run.stderr
    );

    // The next run exports only what is new.
    let second = platform.place("cust-live", &[("B-2", 1, 250)]).await;
    platform.cancel(&second).await;
    events += 2;
    platform.caught_up(events as i64).await;
    let run = platform
        .orderlog(&["export", "parquet", "--out", out_arg])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("committed 2 events"), "{}", run.stderr);
    let run = platform
        .orderlog(&["export", "parquet", "--out", out_arg])
        .await;
    assert!(run.stderr.contains("nothing new"), "{}", run.stderr);

    let queries = documented_queries(&out);
    assert_eq!(queries.len(), 2, "the docs give two DuckDB queries");
    let d = out.to_str().expect("path");
    let mut checks = queries.clone();
    checks.push(format!("SELECT count(*), count(DISTINCT event_id), count(customer_id) FROM read_parquet('{d}/envelope/*/*.parquet')"));
    checks.push(format!("SELECT count(*) - count(customer_id) FROM read_parquet('{d}/*/*/*.parquet', union_by_name = true)"));
    checks.push(format!("SELECT count(*) FILTER (WHERE payment_due_at IS NULL) FROM read_parquet('{d}/placed/*/*.parquet')"));
    checks.push(format!("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('{d}/placed/*/*.parquet', hive_partitioning = true)) WHERE column_name IN ('time', 'lines', 'date', 'order_total_minor')"));
    // The filters of replay: a narrower export of its own.
    let narrow = dir.join("narrow");
    let narrow_arg = narrow.to_str().expect("path");
    let filters = ["--type", "placed,cancelled", "--customer", "cust-1"];
    let run = platform
        .orderlog(
            &[
                &["export", "parquet", "--out", narrow_arg][..],
                &filters[..],
            ]
            .concat(),
        )
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let other = platform
        .orderlog(&["export", "parquet", "--out", narrow_arg, "--type", "placed"])
        .await;
    assert_eq!(other.code, 2);
    assert!(
        other.stderr.contains("exported with --type dev.orderlog.order.cancelled,dev.orderlog.order.placed --customer cust-1"),
        "{}",
        other.stderr
    );
    let n = narrow.to_str().expect("path");
    checks.push(format!("SELECT type, customer_id, count(*) FROM read_parquet('{n}/envelope/*/*.parquet') GROUP BY ALL ORDER BY ALL"));
    checks.push(format!("SELECT type, customer_id, count(*) FROM read_parquet('{d}/envelope/*/*.parquet') WHERE customer_id = 'cust-1' AND type IN ('dev.orderlog.order.placed', 'dev.orderlog.order.cancelled') GROUP BY ALL ORDER BY ALL"));
    let results = duckdb(&checks).await;
    assert_eq!(
        results[6], results[7],
        "the narrow export holds what the whole one holds of it"
    );
    assert_eq!(results[6].len(), 2, "{:?}", results[6]);

    // Counts per day and type: what `orderlog stats` counts.
    let stats = platform.orderlog(&["stats", "--format", "csv"]).await;
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let expected: BTreeSet<Vec<String>> = stats
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let counted: BTreeSet<Vec<String>> = results[0].iter().cloned().collect();
    assert_eq!(counted, expected);
    assert!(counted.len() >= 10, "several days and types: {counted:?}");

    // Sales per day: the daily_sales read model (rows that went back to zero aside).
    let rows: Vec<(chrono::NaiveDate, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, currency::text, orders_placed, revenue_minor::int8, cancellations, refunds_due_minor::int8 FROM daily_sales
         WHERE orders_placed <> 0 OR revenue_minor <> 0 OR cancellations <> 0 OR refunds_due_minor <> 0",
    )
    .fetch_all(&platform.pool)
    .await
    .expect("daily_sales");
    let model: BTreeSet<Vec<String>> = rows
        .into_iter()
        .map(|(day, currency, placed, revenue, cancelled, refunds)| {
            vec![
                day.to_string(),
                currency,
                placed.to_string(),
                revenue.to_string(),
                cancelled.to_string(),
                refunds.to_string(),
            ]
        })
        .collect();
    let sold: BTreeSet<Vec<String>> = results[1]
        .iter()
        .filter(|r| r[2..].iter().any(|v| v != "0"))
        .cloned()
        .collect();
    assert_eq!(sold, model);
    assert!(model.len() >= 4, "sales on several days: {model:?}");

    let total = events.to_string();
    assert_eq!(
        results[2][0],
        [total.clone(), total.clone(), total],
        "every event once, with its customer"
    );
    assert_eq!(
        results[3][0],
        ["0"],
        "every row of every dataset has its customer"
    );
    assert_eq!(
        results[4][0],
        [placed_v1.to_string()],
        "v1 placements upcast, without a due time"
    );
    let types: BTreeSet<Vec<String>> = results[5].iter().cloned().collect();
    assert!(
        types.contains(&vec![
            "time".to_owned(),
            "TIMESTAMP WITH TIME ZONE".to_owned()
        ]),
        "{types:?}"
    );
    assert!(
        types.contains(&vec!["date".to_owned(), "DATE".to_owned()]),
        "{types:?}"
    );
    assert!(
        types.contains(&vec!["order_total_minor".to_owned(), "BIGINT".to_owned()]),
        "{types:?}"
    );
    assert!(
        types
            .iter()
            .any(|t| t[0] == "lines" && t[1].starts_with("STRUCT(sku VARCHAR")),
        "{types:?}"
    );

    // The order book as it stood at noon of the history's last day: its orders folded to
    // then (the first day's delivered, the last day's paid, others cancelled or expired).
    let at = Utc::now()
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .expect("noon")
        .and_utc()
        - Duration::days(history::DAYS_BACK);
    let state_file = dir.join("state.parquet");
    let at_arg = at.to_rfc3339();
    let run = platform
        .orderlog(&[
            "export",
            "state",
            "--at",
            &at_arg,
            "--out",
            state_file.to_str().expect("path"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut expected: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut by_order: std::collections::BTreeMap<String, Vec<&schemas::Event>> = Default::default();
    for w in &past {
        if w.envelope.occurred_at <= at {
            by_order
                .entry(w.envelope.order_id.to_string())
                .or_default()
                .push(&w.envelope.event);
        }
    }
    for (order, events) in by_order {
        let state = fold(events.iter().copied()).expect("folds");
        let o = state.order().expect("placed");
        expected.insert(vec![
            order,
            o.customer_id.as_str().to_owned(),
            o.status.as_str().to_owned(),
            state.version().to_string(),
            o.total.amount_minor().to_string(),
        ]);
    }
    let s = state_file.to_str().expect("path");
    let rows = duckdb(&[format!(
        "SELECT order_id, customer_id, status, version, total_minor FROM read_parquet('{s}')"
    )])
    .await;
    let exported: BTreeSet<Vec<String>> = rows[0].iter().cloned().collect();
    assert_eq!(exported, expected);
    for status in ["delivered", "paid", "cancelled", "expired"] {
        assert!(
            exported.iter().any(|r| r[2] == status),
            "{status} in {exported:?}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    platform.stop().await;
}
