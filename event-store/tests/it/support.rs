use event_store::KafkaConfig;

/// A Kafka config whose topics are private to one test, so tests run in parallel.
pub(crate) fn isolated_kafka() -> KafkaConfig {
    let bootstrap =
        std::env::var("ORDERLOG_KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_owned());
    KafkaConfig::new(
        bootstrap,
        format!("test-{}.", uuid::Uuid::new_v4().simple()),
    )
}
