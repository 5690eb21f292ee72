//! Group membership and recovery: assignment bookkeeping (`rebalance`), taking partitions over (`takeover`), and the state they start from (`rebuild`, from `snapshot_read`, checked against the events by `catch_up` and `unconfirmed`, with the dead letters already written found by `letters`).

pub(super) mod catch_up;
pub(super) mod letters;
pub(super) mod rebalance;
pub(super) mod rebuild;
pub(super) mod rebuild_error;
pub(super) mod snapshot_read;
pub(super) mod takeover;
pub(super) mod unconfirmed;
