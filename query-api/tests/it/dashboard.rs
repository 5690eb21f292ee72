//! The dashboard answers: a real Prometheus (Debian's, which `make test` installs) scrapes
//! the platform while it takes traffic, and every query of every panel of
//! `compose/grafana/orderlog.json` evaluates without an error and with a result.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// A Prometheus of the test's own, stopped when dropped.
struct Prometheus {
    child: Child,
    base: String,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn host_port(base: &str) -> &str {
    base.trim_start_matches("http://")
}

fn start_prometheus(targets: &[(&str, &str)]) -> Prometheus {
    let dir = std::env::temp_dir().join(format!("orderlog-prom-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("data")).expect("dir");
    // Prometheus scrapes with an operator's token, as the local stack's configuration does.
    let token = dir.join("token");
    std::fs::write(
        &token,
        testkit::auth::token("prometheus", &[guard::Scope::Admin], None),
    )
    .expect("token");
    let mut config = String::from("global:\n  scrape_interval: 1s\nscrape_configs:\n");
    for (job, base) in targets {
        config.push_str(&format!(
            "  - job_name: {job}\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: [\"{}\"]\n",
            token.display(),
            host_port(base)
        ));
    }
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let port = testkit::free_port();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus runs (make test installs it: compose/local/prometheus.sh)");
    Prometheus {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: TempDir(dir),
    }
}

/// The queries of every panel, with the panel's title.
fn panel_queries() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../compose/grafana/orderlog.json"
    );
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard")).expect("json");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push((
                panel["title"].as_str().unwrap_or_default().to_owned(),
                target["expr"].as_str().expect("expr").to_owned(),
            ));
        }
    }
    queries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_answers_from_a_real_prometheus_after_traffic() {
    let platform = Platform::start().await;
    let prometheus = start_prometheus(&[
        ("orderlog-command-api", &platform.commands),
        ("orderlog-projectors", &platform.projectors),
        ("orderlog-query-api", &platform.query),
    ]);
    let queries = panel_queries();
    assert!(queries.len() >= 10, "{queries:?}");

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut round = 0;
    loop {
        // Traffic all along, so rates over the last minute have something to count.
        round += 1;
        let placed = platform
            .place(&format!("dash-{round}"), "EUR", &[("D-1", 1, 100)])
            .await;
        let id = placed["order_id"].as_str().expect("id").to_owned();
        platform.pay(&id, 100, "EUR").await;
        platform
            .graphql(
                "query Dash($id: ID!) { order(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        let mut failing = Vec::new();
        for (title, expr) in &queries {
            let mut url =
                reqwest::Url::parse(&format!("{}/api/v1/query", prometheus.base)).expect("url");
            url.query_pairs_mut().append_pair("query", expr);
            let answer: Value = match platform.http.get(url).send().await {
                Ok(response) => response.json().await.unwrap_or_default(),
                // Prometheus is still starting.
                Err(_) => Value::Null,
            };
            assert_ne!(
                answer["status"], "error",
                "{title}: `{expr}` is not valid PromQL: {answer}"
            );
            let empty = answer["data"]["result"]
                .as_array()
                .is_none_or(Vec::is_empty);
            if empty {
                failing.push(format!("{title}: `{expr}`"));
            }
        }
        if failing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "panels without data after traffic: {failing:#?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(prometheus);
    platform.stop().await;
}
