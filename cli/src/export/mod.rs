//! `orderlog export`: the log as Parquet for DuckDB, Spark and the like.
//!
//! - [`events`]: `export parquet`, incremental and exact (datasets in `datasets.rs`, typed
//!   columns in `columns.rs`, batches and files in `batches.rs` and `files.rs`, the manifest
//!   and its atomic commit in `manifest.rs` and `commit.rs`, the order-to-customer map in
//!   `customers.rs`).
//! - [`state`]: `export state --at`, every order as it stood at a moment.

pub mod batches;
pub mod columns;
pub mod commit;
pub mod customers;
pub mod datasets;
pub mod events;
pub mod files;
pub mod manifest;
pub mod state;
pub mod workers;

#[cfg(test)]
mod tests;
