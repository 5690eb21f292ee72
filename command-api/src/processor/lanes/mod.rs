//! The partitions' threads: one per partition (`lane`, with its `inbox`), the consumer thread handing them fetched commands (`dispatch`), this process's HTTP tier handing them commands directly (`direct`), and when their deadlines fire (`deadlines`, in the stream time of `stream_time`).

pub(super) mod deadlines;
pub(super) mod direct;
pub(super) mod dispatch;
pub(super) mod inbox;
pub(super) mod lane;
pub(super) mod stream_time;
