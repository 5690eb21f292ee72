//! `orderlog verify`: passes on a consistent platform, reports a hand-made difference.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

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
            "the log is consistent and the read models match it ({events} events, 6 orders)"
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

/// Writes the last event of the log's first non-empty partition again, as a processor that
/// decided its command a second time would: a new event id, the same version and command.
fn write_a_second_application(prefix: &str) -> String {
    let topic = event_store::TopicSet::new(prefix).events;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", testkit::bootstrap())
        .set("group.id", "verify-forger")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..3 {
        assignment
            .add_partition_offset(&topic, partition, Offset::Beginning)
            .expect("offset");
    }
    consumer.assign(&assignment).expect("assign");
    let message = loop {
        if let Some(Ok(message)) = consumer.poll(Duration::from_secs(10)) {
            break message.detach();
        }
    };
    let headers =
        message
            .headers()
            .expect("headers")
            .iter()
            .fold(OwnedHeaders::new(), |h, header| {
                let replaced = uuid::Uuid::now_v7().to_string();
                let value = if header.key == "ce_id" {
                    Some(replaced.as_bytes())
                } else {
                    header.value
                };
                h.insert(Header {
                    key: header.key,
                    value,
                })
            });
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", testkit::bootstrap())
        .create()
        .expect("producer");
    producer
        .send(
            BaseRecord::to(&topic)
                .partition(message.partition())
                .key(message.key().expect("key"))
                .payload(message.payload().expect("value"))
                .headers(headers),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(Duration::from_secs(10)).expect("flush");
    String::from_utf8(message.key().expect("key").to_vec()).expect("order id")
}

#[tokio::test]
async fn verify_finds_a_command_applied_twice_in_the_log_even_when_the_read_models_agree() {
    let platform = Platform::start().await;
    let order = platform.place("cust-1", &[("A-1", 1, 1000)]).await;
    platform.caught_up(1).await;
    let forged_order = tokio::task::spawn_blocking({
        let prefix = platform.prefix.clone();
        move || write_a_second_application(&prefix)
    })
    .await
    .expect("forge");
    assert_eq!(forged_order, order);
    // The projections skip a version they hold already: the read models stay equal.
    let run = platform.orderlog(&["verify"]).await;
    assert_eq!(
        run.code, 1,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains(&format!("log\t{order}\tversion\t2\t1")),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    platform.stop().await;
}
