//! Schema evolution across runs, and Apache Spark reading what DuckDB reads.
//!
//! An export whose first run wrote `placed` at schema version 1 (as an orderlog from before
//! `payment_due_at` did) and whose next run wrote version 2: the old files are not
//! rewritten, and readers that merge schemas (DuckDB's `union_by_name`, Spark's
//! `mergeSchema`) see one table, the old rows with no due time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use orderlog_cli::export::batches::Layout;
use orderlog_cli::export::events::{run_with, whole_log};

use crate::history;
use crate::parquet::duckdb;
use crate::support::{Run, bootstrap};

struct Exported {
    prefix: String,
    dir: PathBuf,
    /// Placements in the old run's files; in the new run's, and those with a due time.
    old: usize,
    new: usize,
    due: usize,
    events: usize,
}

/// A topic with `orders` orders' history, exported in two runs: the first as an orderlog
/// that wrote `placed` at version 1, the second as this one.
async fn two_versions(orders: usize) -> Exported {
    let (prefix, _, topics) = testkit::harness::stack::bench_topics(&bootstrap(), "evolve", 3)
        .await
        .expect("topics");
    let placed =
        |h: &[history::Written]| h.iter().filter(|w| w.envelope.order_version == 1).count();
    let first = history::orders(orders / 2, 4);
    let mut events = history::write(&topics.events, 3, &first);
    let dir = std::env::temp_dir().join(format!("orderlog-{}", uuid::Uuid::new_v4().simple()));
    let (out, kafka_prefix) = (dir.clone(), prefix.clone());
    tokio::task::spawn_blocking(move || {
        let ctx = orderlog_cli::Context {
            kafka: event_store::KafkaConfig::new(bootstrap(), kafka_prefix),
            timeout: Duration::from_secs(10),
        };
        let old = Layout::new(None).at_version("placed", 1);
        run_with(
            &ctx,
            &whole_log(out),
            old,
            &Arc::new(AtomicBool::new(false)),
        )
    })
    .await
    .expect("joined")
    .expect("the old run");
    let second = history::orders(orders - orders / 2, 4);
    events += history::write(&topics.events, 3, &second);
    let run: Run = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderlog"))
        .args(["export", "parquet", "--out", dir.to_str().expect("path")])
        .env("ORDERLOG_KAFKA_BOOTSTRAP", bootstrap())
        .env("ORDERLOG_TOPIC_PREFIX", &prefix)
        .output()
        .await
        .expect("orderlog runs")
        .into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let due = second
        .iter()
        .filter(|w| w.envelope.order_version == 1 && !w.is_old_placement())
        .count();
    Exported {
        prefix,
        dir,
        old: placed(&first),
        new: placed(&second),
        due,
        events,
    }
}

async fn cleanup(exported: Exported) {
    let _ = std::fs::remove_dir_all(&exported.dir);
    testkit::harness::clean::remove_topics(&bootstrap(), &[&exported.prefix])
        .await
        .expect("cleanup");
}

fn placed_query(dir: &Path) -> String {
    let d = dir.to_str().expect("path");
    format!(
        "SELECT count(*), count(payment_due_at) FROM read_parquet('{d}/placed/*/*.parquet', union_by_name = true)"
    )
}

#[tokio::test]
async fn a_later_schema_version_adds_a_column_and_duckdb_sees_one_table() {
    let exported = two_versions(60).await;
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(exported.dir.join("_orderlog/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let versions: std::collections::BTreeSet<u64> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter(|f| f["dataset"] == "placed")
        .map(|f| f["schema_version"].as_u64().expect("version"))
        .collect();
    assert_eq!(versions, [1, 2].into(), "old files are kept as they were");
    assert_eq!(manifest["versions"]["placed"], 2);
    let rows = duckdb(&[placed_query(&exported.dir)]).await;
    let total = exported.old + exported.new;
    assert_eq!(rows[0][0], [total.to_string(), exported.due.to_string()]);
    assert!(exported.due > 0 && exported.old > 0);
    cleanup(exported).await;
}

fn spark_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/spark-venv/bin/python")
}

/// The docs' Spark example as written (on the test's directory), then the figures it
/// gives, as JSON.
fn spark_script(dir: &Path) -> String {
    let example = crate::parquet::documented("python", dir);
    format!(
        "{example}\nimport json\nrows = [[str(r['date']), r['type'], r['count']] for r in per_day.collect()]\ndue = placed.filter(placed.payment_due_at.isNotNull()).count()\nprint('ORDERLOG ' + json.dumps({{'per_day': rows, 'placed': placed.count(), 'due': due, 'time': str(dict(events.dtypes)['time'])}}))\nspark.stop()\n"
    )
}

/// Spark in local mode (pyspark from PyPI, `make analytics` installs it) reads the export
/// and counts what DuckDB counts. Out of `make test` for its cost: `make analytics` runs it
/// on a larger log, CI on this one (`ORDERLOG_ANALYTICS_ORDERS` sets the size).
#[tokio::test]
#[ignore = "make analytics runs it (pyspark)"]
async fn spark_reads_the_export_as_duckdb_does() {
    let orders = std::env::var("ORDERLOG_ANALYTICS_ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let exported = two_versions(orders).await;
    let d = exported.dir.to_str().expect("path");
    let duck = duckdb(&[
        format!("SELECT date, type, count(*) FROM read_parquet('{d}/envelope/*/*.parquet', hive_partitioning = true) GROUP BY ALL ORDER BY ALL"),
        placed_query(&exported.dir),
    ])
    .await;
    let output = tokio::process::Command::new(spark_python())
        .args(["-c", &spark_script(&exported.dir)])
        .env("PYSPARK_PYTHON", spark_python())
        .output()
        .await
        .expect("python with pyspark (make analytics installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "spark: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ORDERLOG "))
        .expect("the figures");
    let spark: serde_json::Value = serde_json::from_str(line).expect("json");
    let per_day: Vec<Vec<String>> = spark["per_day"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            vec![
                r[0].as_str().expect("date").to_owned(),
                r[1].as_str().expect("type").to_owned(),
                r[2].to_string(),
            ]
        })
        .collect();
    assert_eq!(per_day, duck[0], "Spark counts what DuckDB counts");
    let total: u64 = per_day
        .iter()
        .map(|r| r[2].parse::<u64>().expect("count"))
        .sum();
    assert_eq!(total, exported.events as u64);
    assert_eq!(
        [spark["placed"].to_string(), spark["due"].to_string()],
        [duck[1][0][0].clone(), duck[1][0][1].clone()],
        "mergeSchema: one table over both versions"
    );
    assert_eq!(spark["time"], "timestamp", "microsecond UTC timestamps");
    cleanup(exported).await;
}
