//! Dead letters that landed without the position past their records.
//!
//! A poison record on the commands topic is dead-lettered in the transaction that records
//! the position past it. When Kafka commits the letter and aborts the position (a transaction
//! cut in two: `store::marks`), the next owner reads the record again from the older
//! position: without this check it would write a second letter. The position names the
//! dead-letter offset every later letter is at or after; the takeover reads the partition's
//! letters from there and keeps the commands offsets at or after the position that already
//! have one, which the partition then passes without writing another.

use std::collections::HashSet;
use std::convert::Infallible;

use event_store::{KafkaConfig, ReadError, Start, TopicSet, read_to_end};
use rdkafka::Message;
use rdkafka::message::Headers;

/// What the dead-letter partition holds past a position.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Lettered {
    /// Commands offsets at or after the position already dead-lettered.
    pub offsets: HashSet<i64>,
    /// Where the dead-letter partition ended: the offset the next position names.
    pub end: i64,
}

/// Reads `partition` of the dead-letter topic from `from` (its beginning when the position
/// names no offset) and keeps the commands offsets at or after `next_offset` it holds a
/// letter of.
pub(crate) fn past_position(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    from: Option<i64>,
    next_offset: i64,
) -> Result<Lettered, ReadError<Infallible>> {
    let mut offsets = HashSet::new();
    let start = from.map_or(Start::Beginning, Start::Offset);
    let end = read_to_end::<Infallible>(kafka, &topics.dead_letter, partition, start, |message| {
        if let Some(offset) = source_offset(message, &topics.commands, partition)
            && offset >= next_offset
        {
            offsets.insert(offset);
        }
        Ok(())
    })?;
    if !offsets.is_empty() {
        tracing::warn!(
            partition,
            records = offsets.len(),
            "commands records past the position were dead-lettered already; passing them"
        );
    }
    Ok(Lettered { offsets, end })
}

/// The commands offset a letter is of, when it is a letter of `partition` of `commands`.
/// A letter is input too: one whose origin does not read is no letter of ours.
fn source_offset(letter: &impl Message, commands: &str, partition: i32) -> Option<i64> {
    let headers = letter.headers()?;
    let header = |name: &str| {
        let value = headers.iter().find(|h| h.key == name)?.value?;
        std::str::from_utf8(value).ok()
    };
    (header("orderlog_source_topic")? == commands).then_some(())?;
    (header("orderlog_source_partition")?.parse::<i32>().ok()? == partition).then_some(())?;
    header("orderlog_source_offset")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

    use super::*;

    fn letter(headers: &[(&str, &str)]) -> OwnedMessage {
        let headers = headers
            .iter()
            .fold(OwnedHeaders::new(), |all, (key, value)| {
                all.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                })
            });
        OwnedMessage::new(
            None,
            None,
            "dead-letter".to_owned(),
            Timestamp::NotAvailable,
            2,
            0,
            Some(headers),
        )
    }

    #[test]
    fn a_letter_names_its_commands_record_by_topic_partition_and_offset() {
        let ours = [
            ("orderlog_source_topic", "commands"),
            ("orderlog_source_partition", "2"),
            ("orderlog_source_offset", "41"),
        ];
        assert_eq!(source_offset(&letter(&ours), "commands", 2), Some(41));
        assert_eq!(source_offset(&letter(&ours), "commands", 3), None);
        assert_eq!(source_offset(&letter(&ours), "events", 2), None);
        let garbled = [
            ("orderlog_source_topic", "commands"),
            ("orderlog_source_partition", "2"),
            ("orderlog_source_offset", "x"),
        ];
        assert_eq!(source_offset(&letter(&garbled), "commands", 2), None);
        assert_eq!(source_offset(&letter(&[]), "commands", 2), None);
    }
}
