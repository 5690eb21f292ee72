//! query-api's tests run on `testkit`'s query platform: a whole private platform per test.

pub(crate) use testkit::query_platform::{QueryPlatform as Platform, error_code, graphiql_assets};
