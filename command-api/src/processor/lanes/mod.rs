//! The partitions' threads: one per partition (`lane`), the consumer thread handing them fetched commands (`dispatch`), and this process's HTTP tier handing them commands directly (`direct`).

pub(super) mod direct;
pub(super) mod dispatch;
pub(super) mod lane;
