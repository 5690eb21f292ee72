//! Connection settings shared by everything that talks to Kafka.

use rdkafka::ClientConfig;

use crate::security::KafkaSecurity;

/// Where the brokers are, how clients authenticate, and how the platform's topics are
/// named and sized.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]` of the brokers.
    pub bootstrap: String,
    /// Prefix for every topic name, so several platforms (or tests) share one cluster.
    pub topic_prefix: String,
    /// SASL and TLS settings of every client.
    pub security: KafkaSecurity,
}

impl KafkaConfig {
    pub fn new(bootstrap: impl Into<String>, topic_prefix: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            topic_prefix: topic_prefix.into(),
            security: KafkaSecurity::default(),
        }
    }

    /// The same, with clients authenticating as `security` says.
    #[must_use]
    pub fn secured(mut self, security: KafkaSecurity) -> Self {
        self.security = security;
        self
    }

    /// A client configuration with the bootstrap servers and sane shared settings.
    pub fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.dns.lookup", "use_all_dns_ips")
            .set("socket.keepalive.enable", "true");
        self.security.apply(&mut config);
        config
    }

    /// A transactional producer configuration. The id must be stable per writer slot, so a
    /// restarted writer fences its predecessor and unblocks read_committed readers at once.
    pub fn transactional_producer(&self, transactional_id: &str) -> ClientConfig {
        let mut config = self.client();
        config
            .set("transactional.id", transactional_id)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // A writer sends a transaction's records in one go and then waits for them, and
            // they wait for the partitions' registration in the transaction anyway: a
            // linger only delayed every transaction (2 ms: p50 4.7 ms; 0: 2.8 ms).
            .set("linger.ms", "0")
            .set("compression.type", "lz4")
            .set("transaction.timeout.ms", "30000")
            // The first partition added after a commit is often refused with
            // CONCURRENT_TRANSACTIONS while the previous markers are written; librdkafka
            // retries after retry.backoff.ms, whose default of 100 ms capped a partition
            // at ~10 transactions/s.
            .set("retry.backoff.ms", "5")
            .set("retry.backoff.max.ms", "50");
        config
    }

    /// A consumer that reads only committed records and never commits offsets to Kafka by
    /// itself: the owner of the consumer decides where the truth about offsets lives.
    pub fn read_committed_consumer(&self, group_id: &str) -> ClientConfig {
        let mut config = self.client();
        config
            .set("group.id", group_id)
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "true");
        config
    }

    /// A read_committed consumer for reading long ranges of a log as fast as possible
    /// (rebuilds, replays, exports): 2 MB partition fetches and a 10 ms fetch backoff, each
    /// measured (docs/performance.md, "Bulk reads").
    pub fn bulk_reader(&self, group_id: &str) -> ClientConfig {
        let mut config = self.read_committed_consumer(group_id);
        config
            .set("fetch.max.bytes", "52428800")
            .set("max.partition.fetch.bytes", "2097152")
            .set("queued.min.messages", "200000")
            // librdkafka's default waits a whole second after a full queue drains.
            .set("fetch.queue.backoff.ms", "10");
        config
    }
}
