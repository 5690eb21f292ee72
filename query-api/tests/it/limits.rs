//! Depth, complexity, size and introspection limits, each refused with its own code.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn bombs_and_oversized_queries_are_refused_with_codes() {
    let platform = Platform::start().await;

    // Depth: the order -> customer -> orders cycle, nested past the limit.
    let mut deep = String::from("id");
    for _ in 0..5 {
        deep = format!("customer {{ orders(first: 1) {{ nodes {{ {deep} }} }} }}");
    }
    let body = platform
        .graphql(
            &format!("{{ orders(first: 1) {{ nodes {{ {deep} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_DEEP", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nested too deep")
    );

    // Complexity: shallow, but page sizes multiply.
    let wide = "edges { node { id status lines { sku quantity } history { version type } customer { id } } }";
    let aliases: Vec<String> = (0..6)
        .map(|i| format!("o{i}: orders(first: 100) {{ {wide} }}"))
        .collect();
    let body = platform
        .graphql(&format!("{{ {} }}", aliases.join(" ")), json!({}))
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");

    // Size, syntax and validation.
    let huge = format!("{{ projections {{ name }} }} #{}", "x".repeat(20_000));
    assert_eq!(
        error_code(&platform.graphql(&huge, json!({})).await),
        "QUERY_TOO_LARGE"
    );
    assert_eq!(
        error_code(
            &platform
                .graphql("{ orders(first: 1 { id }", json!({}))
                .await
        ),
        "GRAPHQL_PARSE_FAILED"
    );
    assert_eq!(
        error_code(&platform.graphql("{ orders { nope } }", json!({})).await),
        "GRAPHQL_VALIDATION_FAILED"
    );

    // A reasonable query still runs.
    let ok = platform
        .graphql(
            "{ orders(first: 100) { edges { node { id lines { sku } } } } }",
            json!({}),
        )
        .await;
    assert!(ok.get("errors").is_none(), "{ok}");
    platform.stop().await;
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let platform = Platform::start_with(|config| config.introspection = false).await;
    let body = platform
        .graphql("{ __schema { types { name } } }", json!({}))
        .await;
    assert_eq!(error_code(&body), "INTROSPECTION_DISABLED", "{body}");
    let by_type = platform
        .graphql("{ __type(name: \"Order\") { name } }", json!({}))
        .await;
    assert_eq!(error_code(&by_type), "INTROSPECTION_DISABLED", "{by_type}");
    let ok = platform
        .graphql("{ projections { name } }", json!({}))
        .await;
    assert!(ok.get("errors").is_none(), "{ok}");
    platform.stop().await;
}
