//! Tests of the contract and the order domain: pure, no Kafka or PostgreSQL.

mod contract;
mod deadlines;
mod decide;
mod matrix;
mod properties;
mod support;
