//! Idempotent by construction: replaying a range that was applied already changes nothing.

use std::time::Duration;

use crate::crash::{assert_read_models_equal_the_log, histories};
use crate::support::*;

type Positions = Vec<(String, i64)>;

async fn positions(stack: &Stack) -> Positions {
    sqlx::query_as(
        "SELECT projection, sum(next_offset)::int8 FROM projection_offsets
         GROUP BY projection ORDER BY projection",
    )
    .fetch_all(&stack.pool)
    .await
    .expect("positions")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_whole_log_over_applied_rows_changes_nothing() {
    let stack = Stack::new().await;
    let running = stack.start(stack.config()).await;
    let events = stack.write(&histories(200));
    assert_read_models_equal_the_log(&stack, &events).await;
    let applied = positions(&stack).await;
    assert_eq!(applied.len(), 3, "{applied:?}");

    // Set every projection back to the beginning while it runs: each notices, seeks back
    // and applies the whole log again over its rows, storing its offsets as it goes.
    sqlx::query("UPDATE projection_offsets SET next_offset = 0")
        .execute(&stack.pool)
        .await
        .expect("reset");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while positions(&stack).await != applied {
        assert!(
            std::time::Instant::now() < deadline,
            "the projections did not come back to {applied:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_read_models_equal_the_log(&stack, &events).await;

    // Again, with new events arriving at once: now a batch in flight finds the offsets set
    // back, ends its transaction and the worker seeks back, as after a rebuild's switch.
    sqlx::query("UPDATE projection_offsets SET next_offset = 0")
        .execute(&stack.pool)
        .await
        .expect("reset");
    let mut all = events;
    all.extend(stack.write(&histories(100)));
    assert_read_models_equal_the_log(&stack, &all).await;
    running.stop().await;
}
