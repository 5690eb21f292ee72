//! The topics a partition's transactions write, always on the partition's own number:
//! batches write all four, a takeover's dead-lettering two. Writers name their topic from
//! here and `settle` looks at every one, so a topic a transaction writes can never be left
//! out of what a new writer settles.

use event_store::TopicSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Events,
    Results,
    /// Order snapshots and the partition's position.
    Snapshots,
    /// Unusable command records and those a takeover found.
    DeadLetter,
}

impl Written {
    pub(crate) const ALL: [Written; 4] = [
        Written::Snapshots,
        Written::Events,
        Written::Results,
        Written::DeadLetter,
    ];

    /// A bounded metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Written::Events => "events",
            Written::Results => "results",
            Written::Snapshots => "snapshots",
            Written::DeadLetter => "dead_letter",
        }
    }

    pub(crate) fn topic(self, topics: &TopicSet) -> &str {
        match self {
            Written::Events => &topics.events,
            Written::Results => &topics.results,
            Written::Snapshots => &topics.snapshots,
            Written::DeadLetter => &topics.dead_letter,
        }
    }
}
