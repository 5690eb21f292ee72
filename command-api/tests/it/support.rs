//! What command-api's integration tests share beyond `testkit`: keys that land on a
//! partition, and the snapshots topic read raw.

pub(crate) use testkit::bodies::*;
pub(crate) use testkit::bootstrap;
pub(crate) use testkit::command_app::*;
pub(crate) use testkit::http::client;
pub(crate) use testkit::plain_log::*;
pub(crate) use testkit::topic_prefix as unique_prefix;

/// An `Idempotency-Key` whose PlaceOrder creates an order on `partition`.
pub(crate) fn key_in_partition(partition: i32, partitions: i32) -> String {
    (0..)
        .map(|n| format!("{}-{n}", uuid::Uuid::new_v4().simple()))
        .find(|key| {
            let order = command_api::http::order_id_for_key(key).to_string();
            event_store::partitioner::partition_of(order.as_bytes(), partitions) == partition
        })
        .expect("some key lands on every partition")
}

/// Calls `each` with every committed record of one partition of the snapshots topic.
pub(crate) fn read_snapshots(
    prefix: &str,
    partition: i32,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) {
    let kafka = event_store::KafkaConfig::new(bootstrap(), prefix);
    event_store::read_to_end(
        &kafka,
        &event_store::TopicSet::new(prefix).snapshots,
        partition,
        event_store::Start::Beginning,
        |m| {
            each(m);
            Ok::<(), ()>(())
        },
    )
    .expect("read snapshots");
}

/// [`test_config`] with every command sent through the commands topic, as an HTTP tier
/// that does not own the order's partition sends it (the tests of that intake).
pub(crate) fn through_topic(
    prefix: &str,
    role: command_api::config::Role,
) -> command_api::config::Config {
    let mut config = test_config(prefix, role);
    config.direct_commands = false;
    config
}

/// The last position recorded for `partition` on the snapshots topic.
pub(crate) fn recorded_position(prefix: &str, partition: i32) -> Option<i64> {
    use rdkafka::Message;
    let mut last = None;
    read_snapshots(prefix, partition, |m| {
        if m.key() == Some(command_api::processor::POSITION_KEY) {
            let position: command_api::processor::Position =
                serde_json::from_slice(m.payload().unwrap_or_default()).expect("position");
            last = Some(position.next_offset);
        }
    });
    last
}
