//! Whether Kafka is taking commands: a circuit breaker for the HTTP tier. Once a command
//! could not be produced (or librdkafka reports every broker down), commands are refused at
//! once (503 with `Retry-After`) instead of each waiting out its produce timeout, until a
//! watcher sees the brokers answer again.

use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Availability {
    down_since: Mutex<Option<Instant>>,
}

impl Availability {
    /// The brokers are out of reach; `true` when this is news (they were taking commands).
    pub fn down(&self, now: Instant) -> bool {
        let mut down_since = self.lock();
        let news = down_since.is_none();
        down_since.get_or_insert(now);
        news
    }

    /// The brokers answer again.
    pub fn up(&self) {
        if let Some(since) = self.lock().take() {
            tracing::info!(
                down_for_ms = since.elapsed().as_millis() as u64,
                "kafka takes commands again"
            );
        }
    }

    pub fn is_up(&self) -> bool {
        self.lock().is_none()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.down_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn going_down_is_news_once_and_up_reopens() {
        let breaker = Availability::default();
        assert!(breaker.is_up());
        assert!(breaker.down(Instant::now()));
        assert!(!breaker.down(Instant::now()));
        assert!(!breaker.is_up());
        breaker.up();
        assert!(breaker.is_up());
        assert!(breaker.down(Instant::now()), "news again after coming back");
    }
}
