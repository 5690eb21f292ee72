//! Keyset pagination: forwards and backwards, no row twice and none missed, while orders
//! keep arriving between pages.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::support::*;

const PAGE: &str = r#"query($first: Int, $after: String, $last: Int, $before: String, $o: OrdersOrderBy) {
  orders(first: $first, after: $after, last: $last, before: $before, orderBy: $o) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"#;

fn page_ids(page: &Value) -> Vec<String> {
    page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn place_some(platform: &Platform, n: usize, customer: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    for i in 0..n {
        let unit = 100 + i64::try_from(i).expect("small") * 7 % 13;
        let answer = platform.place(customer, "EUR", &[("P-1", 1, unit)]).await;
        ids.push(answer["order_id"].as_str().expect("id").to_owned());
        token = answer["consistency_token"]
            .as_str()
            .expect("token")
            .to_owned();
    }
    platform.caught_up(&token, customer).await;
    ids
}

#[tokio::test]
async fn pages_neither_repeat_nor_skip_rows_while_orders_arrive() {
    let platform = Platform::start().await;
    let existing: HashSet<String> = place_some(&platform, 11, "early")
        .await
        .into_iter()
        .collect();

    for order_by in [
        json!({ "field": "PLACED_AT", "direction": "DESC" }),
        json!({ "field": "TOTAL", "direction": "ASC" }),
    ] {
        // Forwards, 3 at a time, with new orders arriving before every page.
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            place_some(&platform, 1, "late").await;
            let data = platform
                .data(PAGE, json!({ "first": 3, "after": after, "o": order_by }))
                .await;
            let page = &data["orders"];
            seen.extend(page_ids(page));
            assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
            if page["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "a row came twice going forwards by {order_by}: {seen:?}"
        );
        assert!(
            existing.iter().all(|id| unique.contains(id)),
            "a row was skipped going forwards by {order_by}"
        );

        // Backwards from the end, 4 at a time, with new orders arriving before every page.
        let mut seen_back = Vec::new();
        let mut before = Value::Null;
        loop {
            place_some(&platform, 1, "late").await;
            let data = platform
                .data(PAGE, json!({ "last": 4, "before": before, "o": order_by }))
                .await;
            let page = &data["orders"];
            let mut ids = page_ids(page);
            ids.reverse();
            seen_back.extend(ids);
            if page["pageInfo"]["hasPreviousPage"] == false {
                break;
            }
            before = page["pageInfo"]["startCursor"].clone();
        }
        let unique: HashSet<&String> = seen_back.iter().collect();
        assert_eq!(
            unique.len(),
            seen_back.len(),
            "a row came twice going backwards by {order_by}"
        );
        assert!(
            existing.iter().all(|id| unique.contains(id)),
            "a row was skipped going backwards by {order_by}"
        );
    }

    // A page's rows and cursors agree with the list order: the page after a cursor starts
    // right after the row the cursor names.
    let first = platform.data(PAGE, json!({ "first": 5 })).await;
    let second = platform
        .data(
            PAGE,
            json!({ "first": 2, "after": first["orders"]["edges"][2]["cursor"] }),
        )
        .await;
    assert_eq!(
        page_ids(&second["orders"]),
        page_ids(&first["orders"])[3..5]
    );
    let back = platform
        .data(
            PAGE,
            json!({ "last": 2, "before": first["orders"]["edges"][3]["cursor"] }),
        )
        .await;
    assert_eq!(page_ids(&back["orders"]), page_ids(&first["orders"])[1..3]);

    // Bad paging arguments are refused with their codes.
    let cursor_of_other_sort = first["orders"]["edges"][0]["cursor"].clone();
    let wrong = platform
        .graphql(
            PAGE,
            json!({ "first": 2, "after": cursor_of_other_sort, "o": { "field": "TOTAL" } }),
        )
        .await;
    assert_eq!(error_code(&wrong), "BAD_CURSOR");
    assert_eq!(
        error_code(
            &platform
                .graphql(PAGE, json!({ "first": 2, "after": "garbage" }))
                .await
        ),
        "BAD_CURSOR"
    );
    assert_eq!(
        error_code(&platform.graphql(PAGE, json!({ "first": 101 })).await),
        "PAGE_SIZE_TOO_LARGE"
    );
    assert_eq!(
        error_code(
            &platform
                .graphql(PAGE, json!({ "first": 1, "last": 1 }))
                .await
        ),
        "BAD_USER_INPUT"
    );
    platform.stop().await;
}
