//! An export killed (SIGKILL) at any point of its run, then run again, leaves every event
//! in the datasets exactly once, counted through the DuckDB glob the docs give analysts;
//! readers never see a killed run's files. An unreadable record is skipped and said.

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::history;
use crate::parquet::duckdb;
use crate::support::{Run, bootstrap};

async fn export(prefix: &str, out: &Path) -> Run {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orderlog"))
        .args(["export", "parquet", "--out", out.to_str().expect("path")])
        .env("ORDERLOG_KAFKA_BOOTSTRAP", bootstrap())
        .env("ORDERLOG_TOPIC_PREFIX", prefix)
        .output()
        .await
        .expect("orderlog runs")
        .into()
}

/// Starts an export and kills it with SIGKILL after `after`; false if it finished first.
async fn killed_after(prefix: &str, out: &Path, after: Duration) -> bool {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderlog"))
        .args(["export", "parquet", "--out", out.to_str().expect("path")])
        .env("ORDERLOG_KAFKA_BOOTSTRAP", bootstrap())
        .env("ORDERLOG_TOPIC_PREFIX", prefix)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("orderlog starts");
    tokio::time::sleep(after).await;
    if child.try_wait().expect("status").is_some() {
        return false;
    }
    child.start_kill().expect("SIGKILL");
    child.wait().await.expect("reaped");
    true
}

/// Events as readers see them: (rows, distinct event ids), through the docs' glob.
async fn visible(out: &Path) -> (u64, u64) {
    if !out.join("envelope").exists() {
        return (0, 0);
    }
    let d = out.to_str().expect("path");
    let rows = duckdb(&[format!(
        "SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{d}/envelope/*/*.parquet', hive_partitioning = true)"
    )])
    .await;
    let parse = |v: &String| v.parse::<u64>().expect("a count");
    (parse(&rows[0][0][0]), parse(&rows[0][0][1]))
}

fn write_garbage(topic: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    producer
        .send(
            BaseRecord::<(), _>::to(topic)
                .partition(1)
                .payload("not an event"),
        )
        .map_err(|(e, _)| e)
        .expect("sent");
    producer.flush(Duration::from_secs(10)).expect("flushed");
}

#[tokio::test]
async fn an_export_killed_at_any_point_and_run_again_has_every_event_exactly_once() {
    let (prefix, _, topics) = testkit::harness::stack::bench_topics(&bootstrap(), "export", 3)
        .await
        .expect("topics");
    let mut total = history::write(&topics.events, 3, &history::orders(4_000, 5));
    write_garbage(&topics.events);

    // How long a whole run takes here, to kill the next ones all along theirs.
    let dir = std::env::temp_dir().join(format!("orderlog-{}", uuid::Uuid::new_v4().simple()));
    let started = Instant::now();
    let run = export(&prefix, &dir.join("timing")).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("not a CloudEvent"), "{}", run.stderr);
    assert!(
        run.stderr.contains("1 records could not be read"),
        "{}",
        run.stderr
    );
    let whole = started.elapsed();
    assert_eq!(
        visible(&dir.join("timing")).await,
        (total as u64, total as u64)
    );

    let out = dir.join("export");
    let mut kills = 0;
    let mut seen = 0;
    for share in [5u32, 25, 45, 65, 80, 90, 95, 99] {
        if killed_after(&prefix, &out, whole * share / 100).await {
            kills += 1;
        }
        let (rows, distinct) = visible(&out).await;
        assert_eq!(rows, distinct, "no event twice after a kill at {share}%");
        assert!(rows >= seen, "what was committed stays");
        assert!(rows == 0 || rows as usize <= total, "{rows} of {total}");
        seen = rows;
        // New events keep coming between runs.
        if share % 2 == 1 {
            total += history::write(&topics.events, 3, &history::orders(200, 2));
        }
    }
    assert!(kills >= 4, "most runs were killed ({kills})");
    let run = export(&prefix, &out).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(visible(&out).await, (total as u64, total as u64));
    let staging = out.join("_orderlog/staging");
    assert!(!staging.exists(), "nothing staged is left");

    let _ = std::fs::remove_dir_all(dir);
    testkit::harness::clean::remove_topics(&bootstrap(), &[&prefix])
        .await
        .expect("cleanup");
}
