//! PostgreSQL restarted under running projections, fast and immediate (as after a crash):
//! every projection waits it out, is not ready meanwhile, and applies everything written
//! before, during and after exactly once, with no one restarting it. Started while
//! PostgreSQL is down, the projectors serve `/readyz` at once, name what they wait for,
//! and start once it is back.

use std::time::{Duration, Instant};

use schemas::values::OrderId;
use testkit::postgres::{Postgres, Shutdown};

use crate::support::*;

async fn ready(base: &str) -> Option<bool> {
    let reply = reqwest::get(format!("{base}/readyz")).await.ok()?;
    Some(reply.status().is_success())
}

async fn wait_ready(base: &str, patience: Duration) {
    let deadline = Instant::now() + patience;
    while ready(base).await != Some(true) {
        assert!(
            Instant::now() < deadline,
            "projectors not ready again within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn orders(count: usize, customer: &str) -> Vec<(OrderId, Vec<schemas::command::Command>)> {
    (0..count)
        .map(|_| {
            (
                OrderId::generate(),
                vec![place(customer, &[("A-1", 2, 500)]), pay(1000)],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projections_wait_out_database_restarts_and_apply_everything_once() {
    let server = tokio::task::spawn_blocking(Postgres::start_fresh)
        .await
        .expect("postgres");
    let stack = Stack::on_database(server.url()).await;
    let running = stack.start(stack.config()).await;
    wait_ready(&running.base, Duration::from_secs(60)).await;

    stack.write(&orders(20, "before"));
    wait_for(&stack.pool, "SELECT count(*) FROM orders", 20).await;

    let mut written = 20;
    for how in [Shutdown::Fast, Shutdown::Immediate] {
        tokio::task::block_in_place(|| server.stop(how));
        // Events keep arriving while the database is gone; the workers keep failing.
        stack.write(&orders(15, "during"));
        written += 15;
        let deadline = Instant::now() + Duration::from_secs(20);
        while ready(&running.base).await != Some(false) {
            assert!(
                Instant::now() < deadline,
                "still ready with the database down"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        tokio::task::block_in_place(|| server.start());
        wait_ready(&running.base, Duration::from_secs(60)).await;
        stack.write(&orders(5, "after"));
        written += 5;
    }

    wait_for(&stack.pool, "SELECT count(*) FROM orders", written).await;
    wait_for(&stack.pool, "SELECT count(*) FROM sales_orders", written).await;
    wait_for(
        &stack.pool,
        "SELECT sum(orders)::bigint FROM customer_stats",
        written,
    )
    .await;
    // Exactly once: two events per order in the timeline, each once.
    wait_for(
        &stack.pool,
        "SELECT count(*) FROM order_timeline",
        2 * written,
    )
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_while_the_database_is_down_they_say_so_and_start_once_it_is_up() {
    let server = tokio::task::spawn_blocking(Postgres::start_fresh)
        .await
        .expect("postgres");
    let stack = Stack::on_database(server.url()).await;
    tokio::task::block_in_place(|| server.stop(Shutdown::Fast));
    let mut config = stack.config();
    let port = testkit::free_port();
    config.listen = format!("127.0.0.1:{port}").parse().expect("addr");
    let base = format!("http://127.0.0.1:{port}");
    let database = projectors::startup::target(&server.url());

    let waited_for = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(reply) = reqwest::get(format!("{base}/readyz")).await {
                let status = reply.status().as_u16();
                let body: serde_json::Value = reply.json().await.unwrap_or_default();
                if status == 503 && body["starting"]["for"] == "postgresql" {
                    assert_eq!(body["starting"]["database"], database.as_str(), "{body}");
                    assert!(
                        !body.to_string().contains("orderlog:"),
                        "no credentials: {body}"
                    );
                    break body;
                }
            }
            assert!(
                Instant::now() < deadline,
                "/readyz never named the wait for PostgreSQL"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let started = async {
        let running = stack.start(config).await;
        // Built only once the database answered.
        (running, Instant::now())
    };
    let back = async {
        let body = waited_for.await;
        eprintln!("while PostgreSQL is down: {body}");
        tokio::task::block_in_place(|| server.start());
        Instant::now()
    };
    let ((running, built), restarted) = tokio::join!(started, back);
    assert!(built >= restarted, "started before the database was back");
    wait_ready(&running.base, Duration::from_secs(60)).await;
    stack.write(&orders(5, "late"));
    wait_for(&stack.pool, "SELECT count(*) FROM orders", 5).await;
    running.stop().await;
}

/// The lag a stopped projection shows keeps counting from the log's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_projection_shows_its_lag_growing() {
    let stack = Stack::new().await;
    let mut config = stack.config();
    config.on_poison = projectors::worker::PoisonPolicy::Halt;
    config.projections = vec![projectors::projections::Projection::Orders];
    let running = stack.start(config).await;
    let first = orders(5, "lag");
    stack.write(&first);
    wait_for(&stack.pool, "SELECT count(*) FROM orders", 5).await;
    // A version gap halts the orders projection under the halt policy.
    let (gapped, mut events) = (OrderId::generate(), decide(&orders(1, "lag")));
    for event in &mut events {
        event.order_id = gapped;
        event.order_version += 5;
    }
    stack.write_events(&events);
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready(&running.base).await != Some(false) {
        assert!(Instant::now() < deadline, "the projection did not halt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack.write(&orders(10, "lag"));
    // 20 events and their commit markers past what the halted worker applied.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lag: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(lag), 0)::int8 FROM projection_lag WHERE projection = 'orders'",
        )
        .fetch_one(&stack.pool)
        .await
        .expect("lag");
        let metrics = reqwest::get(format!("{}/metrics", running.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        let gauge: f64 = metrics
            .lines()
            .filter(|l| {
                l.starts_with("orderlog_projection_lag{") && l.contains("projection=\"orders\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        // The gauge the OrderlogProjectionStopped alert watches (the process's recorder is
        // shared by every test's workers, so only its presence is certain here).
        assert!(
            metrics.contains("orderlog_projection_up{projection=\"orders\"}"),
            "{metrics}"
        );
        if lag >= 20 && gauge >= 20.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lag {lag} in the view, {gauge} in /metrics: not counting from the log's end"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
