//! Failover: two processor processes share the partitions; one is killed (SIGKILL) while
//! commands flow. Every acknowledged command's events are in the log exactly once, and
//! every order's versions run 1, 2, 3... with no gap or duplicate.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use command_api::config::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::*;

/// A processor process on the test's topics; its log goes to the temp directory.
pub(crate) fn spawn_processor(prefix: &str, name: &str, extra: &[&str]) -> Child {
    let log = std::fs::File::create(std::env::temp_dir().join(format!("{}{name}.log", prefix)))
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_command-api"))
        .args([
            "--role",
            "processor",
            "--topic-partitions",
            &PARTITIONS.to_string(),
        ])
        .args([
            "--topic-prefix",
            prefix,
            "--kafka-bootstrap",
            &bootstrap(),
            "--processor-batch-max",
            "50",
        ])
        .args(extra)
        .envs(testkit::auth::env())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("processor starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_processor_mid_load_loses_and_duplicates_nothing() {
    let prefix = unique_prefix();
    let mut config = test_config(&prefix, Role::Http);
    config.result_timeout_ms = 3_000;
    let app = Arc::new(TestApp::spawn_with(config).await);
    let mut first = spawn_processor(&prefix, "a", &["--listen", "127.0.0.1:0"]);
    let mut second = spawn_processor(&prefix, "b", &["--listen", "127.0.0.1:0"]);

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged: Vec<serde_json::Value> = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let key = format!("c{client}-o{n}");
                    let placed = app.until_definite(Method::POST, "/v1/orders", Some(place_body()), &key).await;
                    assert_eq!(placed.status, 201, "{}", placed.body);
                    let id = placed.body["order_id"].as_str().expect("id").to_owned();
                    acknowledged.push(placed.body);
                    for line in 0..3 {
                        let body = json!({"sku": format!("L-{line}"), "quantity": 1, "unit_price": money(5)});
                        let reply = app.until_definite(Method::POST, &format!("/v1/orders/{id}/lines"), Some(body), &format!("{key}-l{line}")).await;
                        assert_eq!(reply.status, 200, "{}", reply.body);
                        acknowledged.push(reply.body);
                    }
                }
                acknowledged
            })
        })
        .collect();

    // Let commands flow through both processors, then kill one without warning.
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.kill().expect("SIGKILL");
    let killed_at = Instant::now();
    first.wait().expect("reaped");
    tokio::time::sleep(Duration::from_secs(12)).await;
    stop.store(true, Ordering::SeqCst);

    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.expect("client"));
    }
    let _ = second.kill();
    let _ = second.wait();
    assert!(
        acknowledged.len() > 40,
        "load ran: {} acknowledged",
        acknowledged.len()
    );
    eprintln!(
        "{} commands acknowledged; killed {:?} ago",
        acknowledged.len(),
        killed_at.elapsed()
    );

    let expected_events = acknowledged_event_ids(&acknowledged);
    let log = read_events(&app.events_topic(), expected_events.len());

    let mut seen: HashMap<&str, usize> = HashMap::new();
    for event in &log {
        *seen.entry(event.header("ce_id")).or_default() += 1;
    }
    assert_acknowledged_in_log(&expected_events, &log);
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "events written twice: {duplicated:?}"
    );
    assert_versions_run_1_to_n(&log, "");
}
