//! Where a new order can be read: the query API's GraphQL endpoint over GET, asking for the
//! order at least at the version the command wrote (so the link answers once it is fresh).

use schemas::values::OrderId;

/// The URL of the GraphQL query for `order_id` at `version` or later, on `query_api`.
pub(crate) fn order_query(query_api: &str, order_id: OrderId, version: u64) -> String {
    let query =
        format!("{{ order(id: \"{order_id}\", minVersion: {version}) {{ id status version }} }}");
    format!(
        "{}/graphql?query={}",
        query_api.trim_end_matches('/'),
        encode(&query)
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_percent_encoded_after_the_graphql_path() {
        let id = OrderId::from_uuid(uuid::Uuid::nil());
        let url = order_query("http://127.0.0.1:8081/", id, 3);
        assert_eq!(
            url,
            "http://127.0.0.1:8081/graphql?query=%7B%20order%28id%3A%20%2200000000-0000-0000-0000-000000000000%22%2C%20minVersion%3A%203%29%20%7B%20id%20status%20version%20%7D%20%7D"
        );
    }
}
