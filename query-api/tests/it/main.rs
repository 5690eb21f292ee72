//! query-api against the real stack: Kafka, the command-api and projectors writing the read
//! models, PostgreSQL, and a real browser for GraphiQL.

mod auth;
mod behind_balancer;
mod browser;
mod cache;
mod compose;
mod contract;
mod dashboard;
mod freshness;
mod hostile;
mod http_bounds;
mod http_caching;
mod limits;
mod outage;
mod pagination;
mod postgres_tls;
mod queries;
mod replica;
mod secrets;
mod subscriptions;
mod support;
