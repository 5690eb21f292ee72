//! Projectors: workers that consume the event log and maintain PostgreSQL read models,
//! storing their per-partition offsets in the same transaction as the rows they change,
//! so a crash never applies an event twice or skips one.
//!
//! Layout:
//! - [`config`]: the binary's one typed configuration.
//! - [`app`]: `Application::build(config)`, health and metrics, `run_until_stopped`.
//! - [`worker`]: one projection's consumer and applier: batches, outages, poison.
//! - `dead_letters`: poison events to the dead-letter topic, copied or by reference.
//! - [`projections`]: the read models, one file each, in set-based SQL.
//! - [`offsets`]: positions stored beside the rows.
//! - `lag`: the lag from the log's end, observed whatever the workers do; `lag_history`:
//!   how long the oldest unapplied event has waited.
//! - `copy`: new rows in PostgreSQL's binary `COPY` format.
//! - [`rebuild`]: replaying a projection into new tables and switching without downtime.
//! - [`db`]: connecting and migrating; [`startup`]: waiting for PostgreSQL at start-up.
//! - [`notify`]: the LISTEN/NOTIFY change signal.

pub mod app;
pub mod config;
mod copy;
pub mod db;
mod dead_letters;
mod lag;
mod lag_history;
pub mod notify;
pub mod offsets;
pub mod projections;
pub mod rebuild;
pub mod startup;
pub mod worker;
