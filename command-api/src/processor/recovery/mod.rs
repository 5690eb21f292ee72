//! Group membership and recovery: assignment bookkeeping (`rebalance`), taking partitions over (`takeover`), and the state they start from (`rebuild`, checked against the events by `catch_up`).

pub(super) mod catch_up;
pub(super) mod rebalance;
pub(super) mod rebuild;
pub(super) mod takeover;
