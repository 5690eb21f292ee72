//! Order storage: one order and one command (`slot`, pure), how a partition's orders are held (`orders`: parsed, as snapshot bytes, or in the `final_store` on disk), and the snapshot record (`snapshots`, `compact`).

pub(super) mod compact;
pub(super) mod final_store;
pub(super) mod orders;
pub(super) mod slot;
pub(super) mod snapshots;
