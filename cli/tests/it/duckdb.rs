//! The JSON Lines a replay writes load into DuckDB as a table with typed columns, with no
//! options beyond `read_json`.

use crate::support::Platform;

/// `make test` installs DuckDB from PyPI here (compose/local/duckdb.sh).
fn python() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/venv/bin/python")
}

const SCRIPT: &str = r#"
import duckdb, json, sys
con = duckdb.connect()
con.execute("CREATE TABLE events AS SELECT * FROM read_json(?)", [sys.argv[1]])
types = {name: kind for name, kind, *_ in con.execute("DESCRIBE events").fetchall()}
rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
paid = con.execute(
    "SELECT sum(data.amount.amount_minor) FROM events WHERE type = 'dev.orderlog.order.payment_confirmed'"
).fetchone()[0]
print(json.dumps({"types": types, "rows": rows, "paid": paid}))
"#;

#[tokio::test]
async fn jsonl_loads_into_duckdb_with_typed_columns() {
    let platform = Platform::start().await;
    let first = platform.place("cust-1", &[("A-1", 2, 500)]).await;
    let second = platform.place("cust-2", &[("B-2", 1, 250)]).await;
    platform.pay(&first, 1000).await;
    platform.pay(&second, 250).await;
    platform.cancel(&second).await;

    let dir = std::env::temp_dir().join(format!("orderlog-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("events.jsonl");
    let run = platform
        .orderlog(&["events", "replay", "-o", file.to_str().expect("path")])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let output = tokio::process::Command::new(python())
        .args(["-c", SCRIPT, file.to_str().expect("path")])
        .output()
        .await
        .expect("python with duckdb (make test installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(result["rows"], 5);
    assert_eq!(result["paid"], 1250);
    let types = &result["types"];
    assert_eq!(types["orderversion"], "BIGINT");
    assert_eq!(types["offset"], "BIGINT");
    assert_eq!(types["partition"], "BIGINT");
    assert_eq!(types["id"], "UUID");
    assert_eq!(
        types["time"], "VARCHAR",
        "time stays RFC 3339, as CloudEvents has it"
    );
    assert_eq!(types["timeutc"], "TIMESTAMP", "{types}");
    assert!(
        types["data"].as_str().expect("type").starts_with("STRUCT("),
        "data is a typed struct: {types}"
    );
    let _ = std::fs::remove_dir_all(dir);
    platform.stop().await;
}
