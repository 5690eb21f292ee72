//! GraphQL over GET with persisted queries and ETags, as an HTTP cache between a client and
//! query-api uses them: the hash of a query instead of its text, `304 Not Modified` while
//! the answer is the same, a new tag once a command changed it, and never a shared cache.

use reqwest::Method;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};

use crate::support::*;

const ORDER: &str = "query($id: ID!) { order(id: $id) { version lines { sku } } }";

/// GET /graphql with the query's hash (and its text when `with_text`), and `If-None-Match`.
async fn get(
    platform: &Platform,
    id: &str,
    with_text: bool,
    if_none_match: Option<&str>,
) -> reqwest::Response {
    let hash = query_api::persisted::hash(ORDER);
    let extensions = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let mut params = vec![
        ("variables", json!({ "id": id }).to_string()),
        ("extensions", extensions.to_string()),
    ];
    if with_text {
        params.push(("query", ORDER.to_owned()));
    }
    let url = reqwest::Url::parse_with_params(&format!("{}/graphql", platform.query), &params)
        .expect("url");
    let mut request = platform.http.get(url);
    if let Some(tag) = if_none_match {
        request = request.header(IF_NONE_MATCH, tag);
    }
    request.send().await.expect("sent")
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("json")
}

#[tokio::test]
async fn a_persisted_query_over_get_is_revalidated_by_its_etag_until_the_order_changes() {
    let platform = Platform::start().await;
    let placed = platform.place("etag", "EUR", &[("E-1", 1, 100)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let token = placed["consistency_token"].as_str().expect("token");
    platform.caught_up(token, "etag").await;

    let unknown = json_of(get(&platform, &id, false, None).await).await;
    assert_eq!(
        error_code(&unknown),
        "PERSISTED_QUERY_NOT_FOUND",
        "{unknown}"
    );

    let first = get(&platform, &id, true, None).await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()[CACHE_CONTROL],
        "private, no-cache",
        "no shared cache keeps one caller's answer"
    );
    let tag = first.headers()[ETAG].to_str().expect("ascii").to_owned();
    assert_eq!(json_of(first).await["data"]["order"]["version"], 1);

    let same = get(&platform, &id, false, Some(&tag)).await;
    assert_eq!(same.status(), 304, "the hash alone, the same answer");
    assert_eq!(same.headers()[ETAG], tag.as_str());
    assert!(same.bytes().await.expect("body").is_empty());

    let answer = platform
        .command(
            Method::POST,
            &format!("/v1/orders/{id}/lines"),
            json!({ "sku": "E-2", "quantity": 1, "unit_price": { "amount_minor": 100, "currency": "EUR" } }),
        )
        .await;
    platform
        .caught_up(answer["consistency_token"].as_str().expect("token"), "etag")
        .await;
    let changed = get(&platform, &id, false, Some(&tag)).await;
    assert_eq!(changed.status(), 200, "the answer changed");
    assert_ne!(changed.headers()[ETAG], tag.as_str());
    assert_eq!(json_of(changed).await["data"]["order"]["version"], 2);

    let url = reqwest::Url::parse_with_params(
        &format!("{}/graphql", platform.query),
        &[("query", "{ nope }")],
    )
    .expect("url");
    let failed = platform.http.get(url).send().await.expect("sent");
    assert_eq!(failed.headers()[CACHE_CONTROL], "no-store");
    assert!(failed.headers().get(ETAG).is_none());
    platform.stop().await;
}
