//! Records read from Kafka are input: checking command records (`untrusted`) and the unusable records a takeover reads (`screen`).

pub(super) mod screen;
pub(super) mod untrusted;
