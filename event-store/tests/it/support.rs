use event_store::KafkaConfig;

/// A Kafka config whose topics are private to one test, so tests run in parallel.
pub(crate) fn isolated_kafka() -> KafkaConfig {
    KafkaConfig::new(testkit::bootstrap(), testkit::topic_prefix())
}
