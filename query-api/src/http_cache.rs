//! HTTP caching of GraphQL answers. A successful answer carries an `ETag` that is a hash of
//! the answer itself, so it changes whenever the answer would (a version, a list's members, a
//! count), and `Cache-Control: private, no-cache`: a shared cache (a CDN, a reverse proxy)
//! never keeps one caller's answer for another, and a browser revalidates every reuse. A
//! request whose `If-None-Match` names the current tag gets `304 Not Modified` without the
//! body. An answer with errors is `no-store`.

use async_graphql::Response as GraphqlResponse;
use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::answer_cache::Answer;

const REVALIDATE: HeaderValue = HeaderValue::from_static("private, no-cache");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// An answer as it is sent: its body and, when it has no errors, its tag.
pub struct Encoded {
    pub ok: bool,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub etag: String,
}

impl Encoded {
    /// `response` serialized and tagged; `None` if it cannot be serialized.
    pub fn of(response: GraphqlResponse) -> Option<Self> {
        let ok = response.is_ok();
        let body = Bytes::from(serde_json::to_vec(&response).ok()?);
        let etag = if ok { etag(&body) } else { String::new() };
        Some(Self {
            ok,
            headers: response.http_headers,
            body,
            etag,
        })
    }

    /// A kept answer (`answer_cache.rs`), as it was first sent.
    pub fn kept(answer: &Answer) -> Self {
        Self {
            ok: true,
            headers: HeaderMap::new(),
            body: answer.body.clone(),
            etag: answer.etag.clone(),
        }
    }
}

/// The HTTP answer to a request with `request_headers`.
pub fn reply(encoded: Encoded, request_headers: &HeaderMap) -> Response {
    let Encoded {
        ok,
        mut headers,
        body,
        etag: tag,
    } = encoded;
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/graphql-response+json"),
    );
    if !ok {
        headers.insert(CACHE_CONTROL, NO_STORE);
        return (headers, body).into_response();
    }
    headers.insert(CACHE_CONTROL, REVALIDATE);
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(ETAG, value);
    }
    if matches(request_headers, &tag) {
        metrics::counter!("orderlog_query_not_modified_total").increment(1);
        headers.remove(CONTENT_TYPE);
        return (StatusCode::NOT_MODIFIED, headers, Body::empty()).into_response();
    }
    (headers, body).into_response()
}

/// A strong tag: the first 16 bytes of the answer's SHA-256, in hex, quoted.
fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names `tag` (or `*`); weak tags compare by their value.
fn matches(request_headers: &HeaderMap, tag: &str) -> bool {
    request_headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(if_none_match: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            IF_NONE_MATCH,
            HeaderValue::from_str(if_none_match).expect("ascii"),
        );
        headers
    }

    #[test]
    fn the_tag_follows_the_answer_and_if_none_match_is_read_as_rfc_9110_says() {
        let tag = etag(b"{\"data\":{\"order\":{\"version\":1}}}");
        assert_ne!(tag, etag(b"{\"data\":{\"order\":{\"version\":2}}}"));
        assert_eq!(tag.len(), 34);
        assert!(matches(&asking(&tag), &tag));
        assert!(matches(&asking(&format!("\"other\", W/{tag}")), &tag));
        assert!(matches(&asking("*"), &tag));
        assert!(!matches(&asking("\"other\""), &tag));
        assert!(!matches(&HeaderMap::new(), &tag));
    }
}
