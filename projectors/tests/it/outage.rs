//! PostgreSQL restarted under running projections, fast and immediate (as after a crash):
//! every projection waits it out, is not ready meanwhile, and applies everything written
//! before, during and after exactly once, with no one restarting it.

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
