//! query-api: the GraphQL service (async-graphql on axum) over the PostgreSQL read models
//! that the projectors maintain, for client applications. Not built yet: see issue 6.
