//! query-api: GraphQL (async-graphql on axum) over the PostgreSQL read models that the
//! projectors maintain, for client applications. It only reads, through a pool of its own
//! that may point at a replica, and it scales apart from the write path.
//!
//! Layout:
//! - [`config`]: the binary's one configuration.
//! - [`schema`]: the GraphQL schema (queries, subscriptions), its types and loaders.
//! - [`pagination`]: keyset cursors and pages, pure.
//! - [`freshness`]: read-your-writes waits on consistency tokens.
//! - [`changes`]: the projectors' change signal, fanned out in process; [`replica`]: the
//!   signal held until a replica read pool has replayed it, and the replica's lag.
//! - [`errors`], [`limits`]: stable error codes and query limits.
//! - [`order_cache`], [`answer_cache`] (with `answer_shape`): the read cache of orders and
//!   of whole answers made of them, never stale; [`persisted`]: persisted queries;
//!   [`http_cache`]: ETags and `304`.
//! - [`operation_metrics`]: requests by operation name and outcome, bounded.
//! - `access`: who asks, and which customers' orders they see.
//! - [`http`], [`ws`], [`graphiql`], [`app`]: the HTTP service and its WebSocket;
//!   `slots`: the subscriptions a WebSocket connection may hold.

mod access;
pub mod answer_cache;
mod answer_shape;
mod answer_sources;
pub mod app;
#[cfg(test)]
mod cache_model;
pub mod changes;
pub mod config;
pub mod db;
pub mod errors;
pub mod freshness;
pub mod graphiql;
pub mod http;
pub mod http_cache;
pub mod limits;
pub mod operation_metrics;
pub mod order_cache;
#[cfg(test)]
mod order_fixture;
pub mod pagination;
pub mod persisted;
pub mod replica;
pub mod schema;
mod slots;
pub mod ws;
