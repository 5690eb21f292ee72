//! Screening what a takeover reads: snapshots, events and results are input too, whoever
//! wrote them. A record that cannot be used is skipped (the partition goes on) and becomes
//! a dead letter, once: offsets below what the partition's position says was screened
//! already were dead-lettered by an earlier takeover.

use event_store::TopicSet;
use rdkafka::Message;

use crate::processor::screening::untrusted::{self, DeadLetter};
use crate::processor::store::snapshots::Screened;

/// The unusable records found while reading a partition's topics, and how far each was read.
pub(crate) struct Screen {
    topics: TopicSet,
    before: Screened,
    read_to: Screened,
    found: Vec<DeadLetter>,
}

impl Screen {
    pub(crate) fn new(topics: &TopicSet) -> Self {
        Self {
            topics: topics.clone(),
            before: Screened::default(),
            read_to: Screened::default(),
            found: Vec::new(),
        }
    }

    /// What the partition's position says earlier takeovers screened.
    pub(crate) fn screened_before(&mut self, screened: Screened) {
        self.before = screened;
    }

    /// Skips `message`, counting it, and keeps its dead letter unless an earlier takeover
    /// wrote one.
    pub(crate) fn unusable(&mut self, message: &impl Message, reason: &str) {
        let topic = message.topic();
        tracing::warn!(
            topic,
            partition = message.partition(),
            offset = message.offset(),
            reason,
            "unusable record skipped"
        );
        metrics::counter!("orderlog_processor_unusable_records_total", "topic" => self.kind(topic))
            .increment(1);
        if message.offset() >= self.before.of(&self.topics, topic) {
            self.found.push(untrusted::dead_letter(message, &reason));
        }
    }

    /// Records that `topic` was read up to `end` (the offset after its last record).
    pub(crate) fn read(&mut self, topic: &str, end: i64) {
        let read = &mut self.read_to;
        let slot = match topic {
            t if t == self.topics.snapshots => &mut read.snapshots,
            t if t == self.topics.events => &mut read.events,
            t if t == self.topics.results => &mut read.results,
            _ => return,
        };
        *slot = (*slot).max(end);
    }

    /// How far the partition is screened once the found records are dead-lettered.
    pub(crate) fn screened(&self) -> Screened {
        self.before.max(self.read_to)
    }

    /// The dead letters to write.
    pub(crate) fn take_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.found)
    }

    /// A bounded metric label.
    fn kind(&self, topic: &str) -> &'static str {
        match topic {
            t if t == self.topics.snapshots => "snapshots",
            t if t == self.topics.events => "events",
            t if t == self.topics.results => "results",
            _ => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    use super::*;

    fn record(topic: &str, offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"junk".to_vec()),
            None,
            topic.to_owned(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    #[test]
    fn what_an_earlier_takeover_screened_gets_no_second_letter() {
        let topics = TopicSet::new("t.");
        let mut screen = Screen::new(&topics);
        screen.screened_before(Screened {
            snapshots: 10,
            events: 5,
            results: 0,
        });
        screen.unusable(&record(&topics.events, 4), "old");
        screen.unusable(&record(&topics.events, 5), "new");
        screen.unusable(&record(&topics.snapshots, 9), "old");
        screen.read(&topics.events, 20);
        assert_eq!(screen.take_letters().len(), 1);
        assert_eq!(
            screen.screened(),
            Screened {
                snapshots: 10,
                events: 20,
                results: 0
            }
        );
    }
}
