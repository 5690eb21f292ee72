//! Sums of money over many orders pass what a 64-bit integer holds: one order may total
//! 10^15 minor units, so 9,300 of them overflow bigint. The sales projection must take them
//! (the reports are exact), not halt.

use schemas::values::OrderId;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_reports_sum_beyond_64_bits_without_halting() {
    const ORDERS: i64 = 9_300;
    const TOTAL: i64 = 1_000_000_000_000_000;
    let stack = Stack::new().await;
    let running = stack.start(stack.config()).await;
    let histories: Vec<_> = (0..ORDERS)
        .map(|_| {
            (
                OrderId::generate(),
                vec![place("whale", &[("GOLD", 1, TOTAL)]), pay(TOTAL)],
            )
        })
        .collect();
    stack.write(&histories);
    wait_for(
        &stack.pool,
        "SELECT count(*) FROM sales_orders WHERE paid_at IS NOT NULL",
        ORDERS,
    )
    .await;
    wait_for(
        &stack.pool,
        "SELECT sum(orders)::int8 FROM customer_stats",
        ORDERS,
    )
    .await;
    let expected = (i128::from(ORDERS) * i128::from(TOTAL)).to_string();
    let (lifetime, revenue, product): (String, String, String) = sqlx::query_as(
        "SELECT (SELECT lifetime_value_minor::text FROM customer_stats WHERE customer_id = 'whale'),
                (SELECT sum(revenue_minor)::text FROM daily_sales),
                (SELECT revenue_minor::text FROM product_sales WHERE sku = 'GOLD')",
    )
    .fetch_one(&stack.pool)
    .await
    .expect("sums");
    assert_eq!(
        (lifetime.as_str(), revenue.as_str(), product.as_str()),
        (expected.as_str(), expected.as_str(), expected.as_str())
    );
    running.stop().await;
}
