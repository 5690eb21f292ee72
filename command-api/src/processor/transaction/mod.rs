//! One partition's transaction: what reaches it (`input`), the worker that decides a batch (`partition`), its writer (`producer`), the topics it writes (`written`), what a new writer settles first (`settle`), and when a commit is trusted (`visible`).

pub(super) mod input;
pub(super) mod partition;
pub(super) mod producer;
pub(super) mod settle;
pub(super) mod visible;
pub(super) mod written;
