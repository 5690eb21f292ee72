//! Commands through the real command-api become rows in every read model they affect.

use std::time::Duration;

use schemas::command::{ChangeShippingAddress, Command, RemoveLine};
use schemas::values::{Address, OrderId, Sku};
use sqlx::postgres::PgListener;

use crate::support::*;

fn remove(sku: &str) -> Command {
    Command::RemoveLine(RemoveLine {
        sku: Sku::parse(sku).expect("sku"),
    })
}

fn move_to(city: &str) -> Command {
    Command::ChangeShippingAddress(ChangeShippingAddress {
        shipping_address: Address::new("Ada", "2 Road", None, city, "75001", "FR")
            .expect("address"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_lands_in_every_read_model_it_affects() {
    let stack = Stack::new().await;
    projectors::db::migrate(&stack.pool).await.expect("migrate");
    let mut listener = PgListener::connect(&stack.database_url)
        .await
        .expect("listener");
    listener
        .listen(projectors::worker::NOTIFY_CHANNEL)
        .await
        .expect("listen");
    let running = stack.start(stack.config()).await;

    let (a, b, c) = (
        OrderId::generate(),
        OrderId::generate(),
        OrderId::generate(),
    );
    stack.write(&[
        (
            a,
            vec![
                place("cust-1", &[("A-1", 2, 500), ("B-2", 1, 250)]),
                add("C-3", 3, 100),
                remove("B-2"),
                move_to("Paris"),
                pay(1300),
                ship(),
                Command::DeliverOrder(Default::default()),
            ],
        ),
        (
            b,
            vec![place("cust-1", &[("A-1", 1, 500)]), pay(500), cancel()],
        ),
        (c, vec![place("cust-2", &[("B-2", 4, 250)])]),
    ]);
    wait_for(&stack.pool, "SELECT count(*) FROM order_timeline", 11).await;
    wait_for(
        &stack.pool,
        "SELECT coalesce(sum(version), 0)::int8 FROM orders",
        11,
    )
    .await;
    wait_for(
        &stack.pool,
        "SELECT coalesce(sum(version), 0)::int8 FROM sales_orders",
        11,
    )
    .await;

    let orders: Vec<(uuid::Uuid, String, i64, i32, i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT order_id, status, total_minor, line_count, version, refund_due_minor, shipping_address->>'city'
         FROM orders ORDER BY placed_at",
    )
    .fetch_all(&stack.pool)
    .await
    .expect("orders");
    let row = |id: OrderId| {
        orders
            .iter()
            .find(|o| o.0 == id.as_uuid())
            .cloned()
            .expect("row")
    };
    assert_eq!(
        row(a),
        (
            a.as_uuid(),
            "delivered".into(),
            1300,
            2,
            7,
            None,
            "Paris".into()
        )
    );
    assert_eq!(
        row(b),
        (
            b.as_uuid(),
            "cancelled".into(),
            500,
            1,
            3,
            Some(500),
            "Berlin".into()
        )
    );
    assert_eq!(
        row(c),
        (
            c.as_uuid(),
            "placed".into(),
            1000,
            1,
            1,
            None,
            "Berlin".into()
        )
    );
    let (carrier, paid_at_set, delivered_at_set): (Option<String>, bool, bool) =
        sqlx::query_as("SELECT carrier, paid_at IS NOT NULL, delivered_at IS NOT NULL FROM orders WHERE order_id = $1")
            .bind(a.as_uuid())
            .fetch_one(&stack.pool)
            .await
            .expect("a");
    assert_eq!(
        (carrier.as_deref(), paid_at_set, delivered_at_set),
        (Some("DHL"), true, true)
    );

    let lines: Vec<(String, i32, i64)> =
        sqlx::query_as("SELECT sku, quantity, line_total_minor FROM order_lines WHERE order_id = $1 ORDER BY position")
            .bind(a.as_uuid())
            .fetch_all(&stack.pool)
            .await
            .expect("lines");
    assert_eq!(lines, [("A-1".into(), 2, 1000), ("C-3".into(), 3, 300)]);

    let timeline: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, event_type FROM order_timeline WHERE order_id = $1 ORDER BY version",
    )
    .bind(b.as_uuid())
    .fetch_all(&stack.pool)
    .await
    .expect("timeline");
    assert_eq!(
        timeline,
        [
            (1, "dev.orderlog.order.placed".into()),
            (2, "dev.orderlog.order.payment_confirmed".into()),
            (3, "dev.orderlog.order.cancelled".into())
        ]
    );

    let customers: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT customer_id, orders, open_orders, lifetime_value_minor::int8 FROM customer_stats ORDER BY customer_id",
    )
    .fetch_all(&stack.pool)
    .await
    .expect("customers");
    assert_eq!(
        customers,
        [("cust-1".into(), 2, 0, 1300), ("cust-2".into(), 1, 1, 0)]
    );

    let daily: (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT orders_placed, revenue_minor::int8, cancellations, refunds_due_minor::int8 FROM daily_sales
         WHERE currency = 'EUR' AND day = (now() AT TIME ZONE 'UTC')::date",
    )
    .fetch_one(&stack.pool)
    .await
    .expect("daily");
    assert_eq!(daily, (3, 1300, 1, 500));

    let products: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT sku, units, revenue_minor::int8 FROM product_sales ORDER BY sku")
            .fetch_all(&stack.pool)
            .await
            .expect("products");
    assert_eq!(
        products,
        [
            ("A-1".into(), 2, 1000),
            ("B-2".into(), 0, 0),
            ("C-3".into(), 3, 300)
        ]
    );

    let lag: i64 = sqlx::query_scalar("SELECT coalesce(sum(lag), 0)::int8 FROM projection_lag")
        .fetch_one(&stack.pool)
        .await
        .expect("lag");
    assert!(lag >= 0);

    let notification = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("notified")
        .expect("recv");
    let payload: serde_json::Value =
        serde_json::from_str(notification.payload()).expect("json payload");
    assert!(
        payload["projection"].is_string() && payload["positions"].is_array(),
        "{payload}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_an_aborted_transaction_are_never_applied() {
    let stack = Stack::new().await;
    let running = stack.start(stack.config()).await;
    let (kept, aborted) = (OrderId::generate(), OrderId::generate());
    stack.write_aborted(&decide(&[(
        aborted,
        vec![place("cust-9", &[("A-1", 1, 500)])],
    )]));
    stack.write(&[(kept, vec![place("cust-9", &[("A-1", 3, 500)]), pay(1500)])]);
    wait_for(&stack.pool, "SELECT count(*) FROM order_timeline", 2).await;
    wait_for(&stack.pool, "SELECT count(*) FROM orders", 1).await;
    let (orders, lifetime): (i64, i64) = sqlx::query_as(
        "SELECT orders, lifetime_value_minor::int8 FROM customer_stats WHERE customer_id = 'cust-9'",
    )
    .fetch_one(&stack.pool)
    .await
    .expect("customer stats");
    assert_eq!(
        (orders, lifetime),
        (1, 1500),
        "only the committed order counts"
    );
    let found: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT order_id FROM orders WHERE order_id = $1")
            .bind(aborted.as_uuid())
            .fetch_optional(&stack.pool)
            .await
            .expect("query");
    assert_eq!(found, None);
    running.stop().await;
}
