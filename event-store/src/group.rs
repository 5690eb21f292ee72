//! Leaving a consumer group without hanging. Closing a consumer (rust-rdkafka closes it
//! when it is dropped) while it still holds partitions makes librdkafka run the revocation
//! inside the close, and there `rd_kafka_assign` can wait forever (librdkafka issue #4884,
//! seen here as a projector that never stopped on SIGTERM). So a consumer leaves first:
//! it unsubscribes and keeps polling until the revocation has run and it holds nothing;
//! the close that follows has nothing left to revoke.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

/// Unsubscribes `consumer` and polls it (records that still arrive are dropped: whoever
/// takes the partitions over reads them from the committed position) until it holds no
/// partition, for at most `patience`. Whether it got there.
pub fn leave<C: ConsumerContext>(consumer: &BaseConsumer<C>, patience: Duration) -> bool {
    consumer.unsubscribe();
    let deadline = Instant::now() + patience;
    loop {
        let holds = consumer
            .assignment()
            .map_or(0, |assignment| assignment.count());
        if holds == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                partitions = holds,
                "the consumer still holds partitions after unsubscribing; closing it anyway"
            );
            return false;
        }
        let _ = consumer.poll(Duration::from_millis(100));
    }
}
