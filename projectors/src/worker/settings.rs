//! What a projection's worker is told at start: topics, batching and the poison policy.

use std::time::Duration;

/// What to do with an event a projection cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PoisonPolicy {
    /// Write it to the dead-letter topic with the error, and go on.
    DeadLetter,
    /// Stop the projection (its lag grows until someone looks).
    Halt,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub events_topic: String,
    pub dead_letter_topic: String,
    pub group_prefix: String,
    pub batch_max: usize,
    pub linger: Duration,
    pub on_poison: PoisonPolicy,
}
