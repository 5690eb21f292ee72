//! Order storage: one order and one command (`slot`, pure), how a partition's orders are held (`orders`: parsed, as snapshot bytes, or in the `final_store` on disk), the snapshot record (`snapshots`, `compact`), what each record says about its transaction (`marks`), and the orders' pending deadlines by due time (`deadlines`).

pub(super) mod compact;
pub(super) mod deadlines;
pub(super) mod final_store;
pub(super) mod marks;
pub(super) mod orders;
pub(super) mod slot;
pub(super) mod snapshots;
