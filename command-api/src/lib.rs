//! command-api: the write side of orderlog. Two roles, in one process by default:
//! the stateless HTTP intake, which turns requests into commands on the commands topic and
//! answers once their results are committed, and the command processors, which decide
//! commands against each order's state and write events in Kafka transactions.
//!
//! Layout:
//! - [`config`]: the binary's one typed configuration.
//! - [`app`]: `Application::build(config)` and `run_until_stopped(shutdown)`.
//! - [`http`]: routes, problem+json errors, the OpenAPI document.
//! - [`intake`]: producing commands and awaiting their committed results.
//! - [`answers`]: the requests waiting for results, answered from the results topic or
//!   in-process by this process's processors.
//! - [`availability`]: refusing commands at once while Kafka is out of reach.
//! - [`processor`]: the command processor role.
//! - [`stages`]: where a command's time goes, stage by stage.

pub mod answers;
pub mod app;
pub mod availability;
pub mod config;
pub mod http;
pub mod intake;
pub mod processor;
pub mod stages;
