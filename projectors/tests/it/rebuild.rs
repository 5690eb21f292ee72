//! Rebuilding a projection while events keep arriving ends with the same rows as the log.

use projectors::projections::Projection;

use crate::crash::{assert_read_models_equal_the_log, histories};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_under_load_switches_to_tables_equal_to_the_log() {
    let stack = Stack::new().await;
    let running = stack.start(stack.config()).await;
    let mut events = stack.write(&histories(300));
    wait_for(&stack.pool, "SELECT count(*) FROM orders", 300).await;

    for projection in [Projection::Orders, Projection::Sales] {
        let config = stack.config();
        let progress = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
        let seen = progress.clone();
        let rebuild = tokio::spawn(async move {
            projectors::rebuild::run(&config, projection, move |p| {
                seen.store(p.done, std::sync::atomic::Ordering::SeqCst)
            })
            .await
        });
        // The live projection keeps serving and the log keeps growing during the rebuild.
        while !rebuild.is_finished() {
            events.extend(stack.write(&histories(40)));
            let live: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
                .fetch_one(&stack.pool)
                .await
                .expect("live reads");
            assert!(live >= 300, "the live table serves during the rebuild");
        }
        let replayed = rebuild.await.expect("join").expect("rebuild succeeds");
        assert!(
            replayed > 0 && progress.load(std::sync::atomic::Ordering::SeqCst) > 0,
            "progress was reported"
        );
    }
    // Nothing arrives after the last switch: the live worker must still notice the stored
    // offsets it had gone past were set back, and re-read from them.
    assert_read_models_equal_the_log(&stack, &events).await;
    events.extend(stack.write(&histories(50)));
    assert_read_models_equal_the_log(&stack, &events).await;

    let leftovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'rebuild_%'",
    )
    .fetch_one(&stack.pool)
    .await
    .expect("schemas");
    assert_eq!(
        leftovers, 0,
        "the old tables and the rebuild schema are dropped"
    );
    running.stop().await;
}
