//! A processor paused (SIGSTOP) longer than its session timeout loses its partitions to the
//! other one; when it resumes, its batch in flight fails, and it must not take back by
//! fencing what it no longer owns. Afterwards every partition is served by exactly one
//! processor, a command on each is answered, and the log holds every acknowledged command
//! once.

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use command_api::config::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::failover::spawn_processor;
use crate::support::*;

const SESSION_TIMEOUT_MS: &str = "6000";

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

/// A processor's `/readyz` answer, or `None` while it does not answer.
async fn readiness(client: &reqwest::Client, port: u16) -> Option<Value> {
    let reply = client
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    reply.json().await.ok()
}

/// Waits until both processors are ready and serve every partition between them, once each.
async fn wait_partitions_shared(client: &reqwest::Client, ports: [u16; 2]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut answers = Vec::new();
        for port in ports {
            answers.push(readiness(client, port).await.unwrap_or(Value::Null));
        }
        let mut served: Vec<i64> = answers
            .iter()
            .flat_map(|a| {
                a["processor"]["partitions"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|p| p.as_i64())
            .collect();
        served.sort_unstable();
        let all: Vec<i64> = (0..i64::from(PARTITIONS)).collect();
        if answers.iter().all(|a| a["ready"] == json!(true)) && served == all {
            return answers;
        }
        assert!(
            Instant::now() < deadline,
            "partitions not shared within 60 s: {answers:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_zombie_fences_no_rightful_owner() {
    let prefix = unique_prefix();
    let mut config = test_config(&prefix, Role::Http);
    config.result_timeout_ms = 2_000;
    let app = Arc::new(TestApp::spawn_with(config).await);
    let ports = [testkit::free_port(), testkit::free_port()];
    let processors = Processes(
        ports
            .iter()
            .zip(["zombie", "owner"])
            .map(|(port, name)| {
                let listen = format!("127.0.0.1:{port}");
                spawn_processor(
                    &prefix,
                    name,
                    &[
                        "--listen",
                        &listen,
                        "--processor-session-timeout-ms",
                        SESSION_TIMEOUT_MS,
                    ],
                )
            })
            .collect(),
    );
    let client = crate::support::client();
    wait_partitions_shared(&client, ports).await;

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|client| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let key = format!("z{client}-o{n}");
                    let placed = app
                        .until_definite(Method::POST, "/v1/orders", Some(place_body()), &key)
                        .await;
                    assert_eq!(placed.status, 201, "{}", placed.body);
                    let id = placed.body["order_id"].as_str().expect("id").to_owned();
                    acknowledged.push(placed.body);
                    let line = json!({"sku": "Z-1", "quantity": 1, "unit_price": money(5)});
                    let added = app
                        .until_definite(
                            Method::POST,
                            &format!("/v1/orders/{id}/lines"),
                            Some(line),
                            &format!("{key}-l"),
                        )
                        .await;
                    assert_eq!(added.status, 200, "{}", added.body);
                    acknowledged.push(added.body);
                }
                acknowledged
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(&processors.0[0], "STOP");
    // Past the session timeout (the broker's least, 6 s): the group gives the paused
    // processor's partitions away.
    tokio::time::sleep(Duration::from_secs(14)).await;
    signal(&processors.0[0], "CONT");
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = Vec::new();
    for client in clients {
        acknowledged.extend(client.await.expect("client"));
    }

    let answers = wait_partitions_shared(&client, ports).await;
    for partition in 0..PARTITIONS {
        let key = key_in_partition(partition, PARTITIONS);
        let reply = app
            .until_definite(Method::POST, "/v1/orders", Some(place_body()), &key)
            .await;
        assert_eq!(
            reply.status, 201,
            "partition {partition} answered ({answers:?}): {}",
            reply.body
        );
        acknowledged.push(reply.body);
    }
    drop(processors);

    let expected = acknowledged_event_ids(&acknowledged);
    let log = read_events(&app.events_topic(), expected.len());
    assert_acknowledged_in_log(&expected, &log);
    assert_versions_run_1_to_n(&log, "after the zombie resumed");
}

/// The processor processes, killed when the test ends, whatever its outcome.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
