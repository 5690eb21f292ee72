//! The dead-letter check: the processors dead-letter each poison record the nemesis wrote
//! to the commands topic exactly once, in the partition's transaction. A dead letter of a
//! transaction that was lost must never be committed by a later one, and a poison record
//! must never be lost.

use std::collections::{HashMap, HashSet};

use rdkafka::Message;

use super::check::{Outcome, header, read_committed};

/// The key the nemesis gives every poison record.
pub(crate) const POISON_KEY: &[u8] = b"poison";

/// Reads the commands topic for the poison records and the dead-letter topic (read
/// committed) for the processors' letters (their origin is the commands topic; the
/// projectors' letters, of events, are not transactional and not counted here).
pub(crate) fn poison_dead_lettered_once(bootstrap: &str, prefix: &str) -> Outcome {
    let name =
        "every poison command dead-lettered exactly once (dead-letter topic, read committed)";
    match count(bootstrap, prefix) {
        Ok((poison, letters)) => judge(name, &poison, &letters),
        Err(error) => Outcome {
            name,
            passed: false,
            detail: error.to_string(),
        },
    }
}

type Origin = (i32, i64);

fn count(bootstrap: &str, prefix: &str) -> anyhow::Result<(HashSet<Origin>, Vec<Origin>)> {
    let commands = event_store::TopicSet::new(prefix).commands;
    let mut poison = HashSet::new();
    read_committed(bootstrap, &commands, |message| {
        if message.key() == Some(POISON_KEY) {
            poison.insert((message.partition(), message.offset()));
        }
    })?;
    let mut letters = Vec::new();
    read_committed(
        bootstrap,
        &event_store::TopicSet::new(prefix).dead_letter,
        |message| {
            if header(message, "orderlog_source_topic").as_deref() != Some(commands.as_str()) {
                return;
            }
            let at = |name| header(message, name).and_then(|v| v.parse::<i64>().ok());
            if let (Some(partition), Some(offset)) = (
                at("orderlog_source_partition"),
                at("orderlog_source_offset"),
            ) {
                letters.push((partition as i32, offset));
            }
        },
    )?;
    Ok((poison, letters))
}

/// Each poison record has one letter, and each letter is of a poison record.
fn judge(name: &'static str, poison: &HashSet<Origin>, letters: &[Origin]) -> Outcome {
    let mut per_record: HashMap<Origin, usize> = HashMap::new();
    for letter in letters {
        *per_record.entry(*letter).or_default() += 1;
    }
    let twice: Vec<_> = per_record
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(o, _)| o)
        .collect();
    let missing: Vec<_> = poison
        .iter()
        .filter(|o| !per_record.contains_key(o))
        .collect();
    let stray: Vec<_> = per_record.keys().filter(|o| !poison.contains(o)).collect();
    Outcome {
        name,
        passed: twice.is_empty() && missing.is_empty() && stray.is_empty(),
        detail: format!(
            "{} poison records, {} letters; twice: {twice:?}, never: {missing:?}, of no poison record: {stray:?}",
            poison.len(),
            letters.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_letter_per_poison_record_passes_and_anything_else_fails() {
        let poison: HashSet<Origin> = [(0, 5), (3, 9)].into();
        assert!(judge("x", &poison, &[(0, 5), (3, 9)]).passed);
        assert!(
            !judge("x", &poison, &[(0, 5), (3, 9), (3, 9)]).passed,
            "twice"
        );
        assert!(!judge("x", &poison, &[(0, 5)]).passed, "missing");
        assert!(
            !judge("x", &poison, &[(0, 5), (3, 9), (1, 1)]).passed,
            "stray"
        );
    }
}
