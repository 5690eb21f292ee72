//! Crashes and rebalances: the read models always end equal to a fold of the whole log.

use std::collections::HashMap;
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use schemas::order::fold;
use schemas::values::OrderId;
use schemas::{Event, EventEnvelope};

use crate::support::*;

/// Histories for `n` orders in varied states.
pub(crate) fn histories(n: usize) -> Vec<(OrderId, Vec<schemas::Command>)> {
    (0..n)
        .map(|i| {
            let mut commands = vec![
                place(&format!("cust-{}", i % 17), &[("A-1", 1, 100)]),
                add("B-2", 2, 50),
            ];
            match i % 4 {
                0 => commands.extend([pay(200), ship()]),
                1 => commands.extend([pay(200), cancel()]),
                2 => commands.push(add("C-3", 1, 1)),
                _ => {}
            }
            (OrderId::generate(), commands)
        })
        .collect()
}

/// Every order as the log says it is: (status, total, version, line count).
fn expected(events: &[EventEnvelope]) -> HashMap<uuid::Uuid, (String, i64, i64, i32)> {
    let mut by_order: HashMap<uuid::Uuid, Vec<Event>> = HashMap::new();
    for event in events {
        by_order
            .entry(event.order_id.as_uuid())
            .or_default()
            .push(event.event.clone());
    }
    by_order
        .into_iter()
        .map(|(id, events)| {
            let state = fold(&events).expect("log folds");
            let order = state.order().expect("placed");
            (
                id,
                (
                    order.status.to_string(),
                    order.total.amount_minor(),
                    state.version() as i64,
                    order.lines.len() as i32,
                ),
            )
        })
        .collect()
}

pub(crate) async fn assert_read_models_equal_the_log(stack: &Stack, events: &[EventEnvelope]) {
    let total = events.len() as i64;
    wait_for(&stack.pool, "SELECT count(*) FROM order_timeline", total).await;
    wait_for(
        &stack.pool,
        "SELECT coalesce(sum(version), 0)::int8 FROM orders",
        total,
    )
    .await;
    let rows: Vec<(uuid::Uuid, String, i64, i64, i32)> =
        sqlx::query_as("SELECT order_id, status, total_minor, version, line_count FROM orders")
            .fetch_all(&stack.pool)
            .await
            .expect("rows");
    let actual: HashMap<_, _> = rows
        .into_iter()
        .map(|(id, s, t, v, l)| (id, (s, t, v, l)))
        .collect();
    assert_eq!(actual, expected(events), "orders equal a fold of the log");
    // The sales reports, kept by deltas, add up to what the log says.
    let by_order = expected(events);
    let orders = by_order.len() as i64;
    let revenue: i64 = by_order
        .values()
        .filter(|(status, ..)| status == "paid" || status == "shipped" || status == "delivered")
        .map(|(_, total, ..)| total)
        .sum();
    let open = by_order
        .values()
        .filter(|(status, ..)| status == "placed" || status == "paid" || status == "shipped")
        .count() as i64;
    wait_for(
        &stack.pool,
        "SELECT coalesce(sum(version), 0)::int8 FROM sales_orders",
        total,
    )
    .await;
    let reports: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT sum(orders)::int8 FROM customer_stats), (SELECT sum(open_orders)::int8 FROM customer_stats),
                (SELECT sum(lifetime_value_minor)::int8 FROM customer_stats), (SELECT sum(revenue_minor)::int8 FROM daily_sales)",
    )
    .fetch_one(&stack.pool)
    .await
    .expect("reports");
    assert_eq!(
        reports,
        (orders, open, revenue, revenue),
        "sales reports equal the log"
    );
    let line_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM order_lines")
        .fetch_one(&stack.pool)
        .await
        .expect("lines");
    let line_count: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(line_count), 0)::int8 FROM orders")
            .fetch_one(&stack.pool)
            .await
            .expect("sum");
    assert_eq!(line_rows, line_count);
    // And the platform's own consistency checker, field by field over every model.
    let ctx = orderlog_cli::Context {
        kafka: stack.kafka.clone(),
        timeout: std::time::Duration::from_secs(10),
    };
    let report = orderlog_cli::verify::run(&ctx, &stack.database_url)
        .await
        .expect("verify runs");
    let shown: Vec<String> = report
        .differences
        .iter()
        .take(10)
        .map(ToString::to_string)
        .collect();
    assert!(
        report.differences.is_empty(),
        "orderlog verify: {}",
        shown.join("\n")
    );
    assert_eq!(report.events, total as u64);
}

/// A projectors process, killed (SIGKILL) when dropped: a failing test leaves none behind.
pub(crate) struct Worker(pub(crate) Child);

impl Worker {
    pub(crate) fn kill(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_binary(stack: &Stack) -> Worker {
    spawn_binary_on(stack, "127.0.0.1:0", &[])
}

/// The projectors binary listening on `listen`, with `env` beside the test's settings.
pub(crate) fn spawn_binary_on(stack: &Stack, listen: &str, env: &[(&str, &str)]) -> Worker {
    let child = Process::new(env!("CARGO_BIN_EXE_projectors"))
        .envs(env.iter().copied())
        .args([
            "--listen",
            listen,
            "--topic-prefix",
            &stack.prefix,
            "--kafka-bootstrap",
            &bootstrap(),
        ])
        .args([
            "--database-url",
            &stack.database_url,
            "--projections",
            "orders,timeline,sales",
            "--batch-max",
            "200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("projectors start");
    Worker(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_worker_at_any_moment_never_applies_twice_or_skips() {
    let stack = Stack::new().await;
    projectors::db::migrate(&stack.pool).await.expect("migrate");
    let mut events = Vec::new();
    let mut worker = spawn_binary(&stack);
    for round in 0..4 {
        events.extend(stack.write(&histories(400)));
        // Let it get part of the way, then kill it without warning, mid-batch or between batches.
        let target = events.len() as i64 / 2;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM order_timeline")
                .fetch_one(&stack.pool)
                .await
                .unwrap_or(0);
            if applied >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        worker.kill();
        eprintln!("round {round}: killed with {} events written", events.len());
        worker = spawn_binary(&stack);
    }
    assert_read_models_equal_the_log(&stack, &events).await;
    drop(worker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_the_partitions_and_survive_a_rebalance() {
    let stack = Stack::new().await;
    let config = stack.config();
    let first = stack.start(config.clone()).await;
    let second = stack.start(config.clone()).await;
    let mut events = stack.write(&histories(300));
    wait_for(&stack.pool, "SELECT count(*) FROM orders", 300).await;
    // One leaves: the other takes its partitions over while events keep coming.
    first.stop().await;
    events.extend(stack.write(&histories(300)));
    let third = stack.start(config).await;
    events.extend(stack.write(&histories(300)));
    assert_read_models_equal_the_log(&stack, &events).await;
    second.stop().await;
    third.stop().await;
}
