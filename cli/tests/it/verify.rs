//! `orderlog verify`: passes on a consistent platform, reports a hand-made difference.

use crate::support::Platform;

#[tokio::test]
async fn verify_passes_when_consistent_and_reports_a_changed_row() {
    let platform = Platform::start().await;
    let mut events = 0;
    for i in 0..6 {
        let order = platform
            .place(
                &format!("cust-{}", i % 2),
                &[("A-1", 1, 1000), ("B-2", 2, 250)],
            )
            .await;
        events += 1;
        if i % 2 == 0 {
            platform.pay(&order, 1500).await;
            events += 1;
        }
        if i == 4 {
            platform.cancel(&order).await;
            events += 1;
        }
    }
    platform.caught_up(events).await;

    let run = platform.orderlog(&["verify"]).await;
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains(&format!(
            "the read models match the log ({events} events, 6 orders)"
        )),
        "{}",
        run.stderr
    );

    let victim: String =
        sqlx::query_scalar("SELECT order_id::text FROM orders WHERE status = 'paid' LIMIT 1")
            .fetch_one(&platform.pool)
            .await
            .expect("a paid order");
    sqlx::query("UPDATE orders SET status = 'shipped' WHERE order_id = $1::uuid")
        .bind(&victim)
        .execute(&platform.pool)
        .await
        .expect("tamper");
    sqlx::query("UPDATE product_sales SET units = units + 1 WHERE sku = 'B-2'")
        .execute(&platform.pool)
        .await
        .expect("tamper");

    let run = platform.orderlog(&["verify"]).await;
    assert_eq!(
        run.code, 1,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let differences: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(differences.len(), 2, "{}", run.stdout);
    assert!(
        differences.contains(&format!("orders\t{victim}\tstatus\tpaid\tshipped").as_str()),
        "{}",
        run.stdout
    );
    assert!(
        differences
            .iter()
            .any(|d| d.starts_with("product_sales\tB-2/EUR\tunits\t")),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("2 differences"), "{}", run.stderr);
    platform.stop().await;
}
