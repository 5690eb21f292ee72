//! Automatic persisted queries, in Apollo's protocol: a client sends the SHA-256 of its query
//! (`extensions.persistedQuery.sha256Hash`) instead of the text. An unknown hash is answered
//! `PERSISTED_QUERY_NOT_FOUND` (message `PersistedQueryNotFound`, which Apollo's clients look
//! for); the client sends the text with the hash once, and the hash alone from then on, over
//! POST or GET (a short, cacheable URL). The texts are kept in a bounded cache (moka); a
//! text sent with a hash that is not its own is refused.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::{Request, ServerError, ServerResult};
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::errors::with_code;

/// The persisted query texts, at most `bytes` of them.
#[derive(Clone)]
pub struct PersistedQueries(Cache<String, Arc<str>>);

impl PersistedQueries {
    pub fn new(bytes: u64) -> Self {
        Self(
            Cache::builder()
                .max_capacity(bytes)
                .weigher(|hash: &String, query: &Arc<str>| {
                    u32::try_from(hash.len() + query.len()).unwrap_or(u32::MAX)
                })
                .build(),
        )
    }

    /// The text persisted under `hash`.
    pub fn text_of(&self, hash: &str) -> Option<Arc<str>> {
        self.0.get(hash)
    }

    /// Persists `query` under `hash` (checked by the caller to be its hash).
    pub(crate) fn remember(&self, hash: &str, query: &str) {
        self.0.insert(hash.to_owned(), Arc::from(query));
    }
}

impl ExtensionFactory for PersistedQueries {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Persisted(self.0.clone()))
    }
}

struct Persisted(Cache<String, Arc<str>>);

/// `extensions.persistedQuery`.
#[derive(serde::Deserialize)]
pub struct PersistedQuery {
    pub version: i64,
    #[serde(rename = "sha256Hash")]
    pub sha256_hash: String,
}

/// The `extensions.persistedQuery` of a request.
pub fn asked(value: async_graphql::Value) -> ServerResult<PersistedQuery> {
    async_graphql::from_value(value).map_err(|_| {
        refused(
            "`extensions.persistedQuery` needs `version` and `sha256Hash`",
            "BAD_USER_INPUT",
        )
    })
}

/// The lowercase hex SHA-256 of `query`, as Apollo's clients compute it.
pub fn hash(query: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(query.as_bytes()) {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    hex
}

fn refused(message: &str, code: &'static str) -> ServerError {
    with_code(ServerError::new(message, None), code)
}

impl Persisted {
    /// `request` with its text, from the store or checked against its hash and kept.
    fn resolve(&self, mut request: Request) -> ServerResult<Request> {
        let Some(value) = request.extensions.remove("persistedQuery") else {
            return Ok(request);
        };
        let asked = asked(value)?;
        if asked.version != 1 {
            return Err(refused(
                "only version 1 of persisted queries is served",
                "PERSISTED_QUERY_NOT_SUPPORTED",
            ));
        }
        if request.query.is_empty() {
            let text = self.0.get(&asked.sha256_hash).ok_or_else(|| {
                metrics::counter!("orderlog_query_persisted_total", "outcome" => "not_found")
                    .increment(1);
                refused("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            })?;
            metrics::counter!("orderlog_query_persisted_total", "outcome" => "hit").increment(1);
            request.query = text.to_string();
            return Ok(request);
        }
        if hash(&request.query) != asked.sha256_hash {
            return Err(refused(
                "`sha256Hash` is not the SHA-256 of the query sent with it",
                "BAD_USER_INPUT",
            ));
        }
        metrics::counter!("orderlog_query_persisted_total", "outcome" => "stored").increment(1);
        PersistedQueries(self.0.clone()).remember(&asked.sha256_hash, &request.query);
        Ok(request)
    }
}

#[async_trait::async_trait]
impl Extension for Persisted {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let request = self.resolve(request)?;
        next.run(ctx, request).await
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Value;

    use super::*;

    fn persisted(hash: &str) -> Value {
        Value::from_json(serde_json::json!({ "version": 1, "sha256Hash": hash })).expect("value")
    }

    fn asking(query: &str, persisted: Value) -> Request {
        let mut request = Request::new(query);
        request
            .extensions
            .insert("persistedQuery".to_owned(), persisted);
        request
    }

    fn code(error: &ServerError) -> String {
        error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    #[test]
    /// The expected value is `printf '{ __typename }' | sha256sum`.
    fn the_hash_is_the_sha256_hex_apollo_clients_send() {
        assert_eq!(
            hash("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }

    #[test]
    fn a_hash_alone_is_served_once_its_text_was_sent_with_it() {
        let store = Persisted(PersistedQueries::new(1 << 20).0);
        let query = "{ __typename }";
        let unknown = store
            .resolve(asking("", persisted(&hash(query))))
            .expect_err("not stored yet");
        assert_eq!(unknown.message, "PersistedQueryNotFound");
        assert_eq!(code(&unknown), "\"PERSISTED_QUERY_NOT_FOUND\"");

        let first = store
            .resolve(asking(query, persisted(&hash(query))))
            .expect("stored");
        assert_eq!(first.query, query);
        let again = store
            .resolve(asking("", persisted(&hash(query))))
            .expect("served from the store");
        assert_eq!(again.query, query);
    }

    #[test]
    fn a_text_with_another_hash_or_version_is_refused() {
        let store = Persisted(PersistedQueries::new(1 << 20).0);
        let wrong = store
            .resolve(asking("{ __typename }", persisted("00")))
            .expect_err("not its hash");
        assert_eq!(code(&wrong), "\"BAD_USER_INPUT\"");
        let v2 = Value::from_json(serde_json::json!({ "version": 2, "sha256Hash": "00" }))
            .expect("value");
        let newer = store.resolve(asking("", v2)).expect_err("version 2");
        assert_eq!(code(&newer), "\"PERSISTED_QUERY_NOT_SUPPORTED\"");
        let plain = store
            .resolve(Request::new("{ __typename }"))
            .expect("no extension: untouched");
        assert_eq!(plain.query, "{ __typename }");
    }
}
