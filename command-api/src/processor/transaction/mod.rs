//! One partition's transaction: what reaches it (`input`), the worker that decides a batch (`partition`) and fires the deadlines due (`deadlines`), its writer (`producer`), the topics it writes (`written`), what a new writer settles first (`settle`), and when a commit is trusted (`visible`).

mod deadlines;
pub(super) mod input;
pub(super) mod partition;
pub(super) mod producer;
pub(super) mod settle;
pub(super) mod visible;
pub(super) mod written;
