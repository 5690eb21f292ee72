//! The `orderlog` binary against a real platform: command-api and the projectors write
//! real events and read models; the tool is run as a process, as analysts run it.

mod duckdb;
mod errors;
mod evolution;
mod export_kill;
mod history;
mod parquet;
mod replay;
mod secrets;
mod simulate;
mod state;
mod support;
mod verify;
