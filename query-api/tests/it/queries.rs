//! Every query and filter against data written through the real write and read paths.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

const ORDER: &str = r#"query($id: ID!, $t: String) {
  order(id: $id, consistencyToken: $t) {
    id customerId status currency version lineCount
    total { minorUnits currency }
    shippingAddress { name city postalCode country }
    payment { reference amount { minorUnits } }
    shipment { carrier trackingNumber }
    cancellation { reason refundDue { minorUnits currency } }
    lines { position sku quantity unitPrice { minorUnits } lineTotal { minorUnits } }
    history { version type data }
    customer { id stats { currency orders } }
  }
}"#;

fn ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn every_query_answers_from_the_read_models() {
    let platform = Platform::start().await;
    // ada: a paid EUR order (1250), a cancelled paid EUR order (300, refund due), a placed
    // USD order (999). bob: a shipped EUR order (5000).
    let a1 = platform
        .place("ada", "EUR", &[("A-1", 2, 500), ("B-2", 1, 250)])
        .await;
    let a1_id = a1["order_id"].as_str().expect("id").to_owned();
    platform.pay(&a1_id, 1250, "EUR").await;
    let a2 = platform.place("ada", "EUR", &[("B-2", 3, 100)]).await;
    let a2_id = a2["order_id"].as_str().expect("id").to_owned();
    platform.pay(&a2_id, 300, "EUR").await;
    platform
        .command(
            Method::POST,
            &format!("/v1/orders/{a2_id}/cancellation"),
            json!({ "reason": "customer_request" }),
        )
        .await;
    let a3 = platform.place("ada", "USD", &[("C-3", 1, 999)]).await;
    let a3_id = a3["order_id"].as_str().expect("id").to_owned();
    let b1 = platform.place("bob", "EUR", &[("A-1", 10, 500)]).await;
    let b1_id = b1["order_id"].as_str().expect("id").to_owned();
    platform.pay(&b1_id, 5000, "EUR").await;
    let last = platform
        .command(
            Method::POST,
            &format!("/v1/orders/{b1_id}/shipment"),
            json!({ "carrier": "DHL", "tracking_number": "JD0001" }),
        )
        .await;
    for (token, customer) in [
        (&a3["consistency_token"], "ada"),
        (&last["consistency_token"], "bob"),
    ] {
        platform
            .caught_up(token.as_str().expect("token"), customer)
            .await;
    }
    let a2_token = format!("{a2_id}@3");
    platform.caught_up(&a2_token, "ada").await;

    // order(id): everything about one order.
    let order = &platform.data(ORDER, json!({ "id": a1_id })).await["order"];
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["version"], 2);
    assert_eq!(
        order["total"],
        json!({ "minorUnits": 1250, "currency": "EUR" })
    );
    assert_eq!(order["lineCount"], 2);
    assert_eq!(order["shippingAddress"]["city"], "Berlin");
    assert_eq!(
        order["payment"],
        json!({ "reference": "psp-1", "amount": { "minorUnits": 1250 } })
    );
    assert_eq!(
        order["lines"][0],
        json!({ "position": 0, "sku": "A-1", "quantity": 2, "unitPrice": { "minorUnits": 500 }, "lineTotal": { "minorUnits": 1000 } })
    );
    let types: Vec<&str> = order["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "dev.orderlog.order.placed",
            "dev.orderlog.order.payment_confirmed"
        ]
    );
    assert_eq!(order["customer"]["id"], "ada");
    let cancelled = &platform.data(ORDER, json!({ "id": a2_id })).await["order"];
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(
        cancelled["cancellation"]["refundDue"],
        json!({ "minorUnits": 300, "currency": "EUR" })
    );
    let shipped = &platform.data(ORDER, json!({ "id": b1_id })).await["order"];
    assert_eq!(
        shipped["shipment"],
        json!({ "carrier": "DHL", "trackingNumber": "JD0001" })
    );
    let unknown = platform
        .data(ORDER, json!({ "id": uuid::Uuid::now_v7().to_string() }))
        .await;
    assert_eq!(unknown["order"], Value::Null);
    let bad = platform.graphql(ORDER, json!({ "id": "not-a-uuid" })).await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");

    // orders(filter, orderBy): each filter narrows as it says.
    let list = |filter: Value, order_by: Value| {
        let platform = &platform;
        async move {
            let query = "query($f: OrdersFilter, $o: OrdersOrderBy) { orders(filter: $f, orderBy: $o, first: 50) { totalCount totalCountIsExact edges { node { id } } } }";
            platform
                .data(query, json!({ "f": filter, "o": order_by }))
                .await["orders"]
                .clone()
        }
    };
    let all = list(json!({}), Value::Null).await;
    assert_eq!(all["totalCount"], 4);
    assert_eq!(all["totalCountIsExact"], true);
    assert_eq!(
        ids(&all),
        [
            b1_id.as_str(),
            a3_id.as_str(),
            a2_id.as_str(),
            a1_id.as_str()
        ],
        "newest first by default"
    );
    assert_eq!(
        ids(&list(json!({ "status": ["PAID", "SHIPPED"] }), Value::Null).await),
        [b1_id.as_str(), a1_id.as_str()]
    );
    assert_eq!(
        ids(&list(
            json!({ "customerId": "ada", "currency": "EUR" }),
            Value::Null
        )
        .await),
        [a2_id.as_str(), a1_id.as_str()]
    );
    assert_eq!(
        ids(&list(json!({ "totalMin": 999, "totalMax": 1250 }), Value::Null).await),
        [a3_id.as_str(), a1_id.as_str()]
    );
    let by_total = list(json!({}), json!({ "field": "TOTAL", "direction": "ASC" })).await;
    assert_eq!(
        ids(&by_total),
        [
            a2_id.as_str(),
            a3_id.as_str(),
            a1_id.as_str(),
            b1_id.as_str()
        ]
    );
    let placed_at: Vec<String> = {
        let query =
            "{ orders(orderBy: {field: PLACED_AT, direction: ASC}) { nodes { placedAt } } }";
        let data = platform.data(query, json!({})).await;
        data["orders"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| n["placedAt"].as_str().expect("time").to_owned())
            .collect()
    };
    let window = list(
        json!({ "placedFrom": placed_at[1], "placedTo": placed_at[3] }),
        Value::Null,
    )
    .await;
    assert_eq!(
        ids(&window),
        [a3_id.as_str(), a2_id.as_str()],
        "from is inclusive, to exclusive"
    );
    let bad_currency = platform
        .graphql(
            "{ orders(filter: {currency: \"euro\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&bad_currency), "BAD_USER_INPUT");

    // customer(id): stats per currency and their orders.
    let query = r#"{ customer(id: "ada") {
        stats { currency orders openOrders lifetimeValue { minorUnits } }
        orders(first: 10, filter: {currency: "EUR"}) { totalCount nodes { id } } } }"#;
    let customer = &platform.data(query, json!({})).await["customer"];
    assert_eq!(
        customer["stats"],
        json!([
            { "currency": "EUR", "orders": 2, "openOrders": 1, "lifetimeValue": { "minorUnits": 1250 } },
            { "currency": "USD", "orders": 1, "openOrders": 1, "lifetimeValue": { "minorUnits": 0 } }
        ])
    );
    assert_eq!(customer["orders"]["totalCount"], 2);
    assert_eq!(
        platform
            .data("{ customer(id: \"nobody\") { id } }", json!({}))
            .await["customer"],
        Value::Null
    );

    // dailySales and topProducts.
    let today = chrono::Utc::now().date_naive().to_string();
    let query = "query($d: Date!) { dailySales(from: $d, to: $d, currency: \"EUR\") { day currency ordersPlaced revenue { minorUnits } cancellations refundsDue { minorUnits } } }";
    let days = platform.data(query, json!({ "d": today })).await;
    assert_eq!(
        days["dailySales"],
        json!([{ "day": today, "currency": "EUR", "ordersPlaced": 3, "revenue": { "minorUnits": 6250 }, "cancellations": 1, "refundsDue": { "minorUnits": 300 } }])
    );
    let top = platform.data("{ topProducts(limit: 2, currency: \"EUR\") { sku units revenue { minorUnits currency } } }", json!({})).await;
    assert_eq!(
        top["topProducts"],
        json!([{ "sku": "A-1", "units": 12, "revenue": { "minorUnits": 6000, "currency": "EUR" } },
               { "sku": "B-2", "units": 1, "revenue": { "minorUnits": 250, "currency": "EUR" } }])
    );
    let ranged = platform
        .data(
            "query($from: DateTime!) { topProducts(limit: 5, from: $from) { sku units } }",
            json!({ "from": "2000-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        ranged["topProducts"],
        json!([{ "sku": "A-1", "units": 12 }, { "sku": "B-2", "units": 1 }]),
        "unpaid and cancelled orders do not count"
    );
    let empty = platform
        .data(
            "query($from: DateTime!) { topProducts(from: $from) { sku } }",
            json!({ "from": "2999-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(empty["topProducts"], json!([]));

    // projections: every projection, and no lag once the idle workers have reported where
    // they stand (past the transaction markers, within a second or two).
    let query = "{ projections { name lag lastEventAt partitions { partition lag } } }";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let projections = loop {
        let projections = platform.data(query, json!({})).await;
        let all_caught_up = projections["projections"]
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["lag"] == 0);
        if all_caught_up || std::time::Instant::now() > deadline {
            break projections;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let names: Vec<&str> = projections["projections"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["orders", "sales", "timeline"]);
    assert!(
        projections["projections"]
            .as_array()
            .expect("list")
            .iter()
            .all(|p| p["lag"] == 0 && !p["lastEventAt"].is_null()),
        "{projections}"
    );

    // GET works for queries too.
    let url = format!(
        "{}/graphql?query={}",
        platform.query, "%7B%20projections%20%7B%20name%20%7D%20%7D"
    );
    let body: Value = platform
        .http
        .get(url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(body["data"]["projections"][0]["name"], "orders");
    platform.stop().await;
}

#[tokio::test]
async fn health_and_metrics_are_served() {
    let platform = Platform::start().await;
    let get = |path: &str| {
        platform
            .http
            .get(format!("{}{path}", platform.query))
            .send()
    };
    assert_eq!(get("/healthz").await.expect("healthz").status(), 200);
    let ready: Value = get("/readyz")
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(
        ready,
        json!({ "ready": true, "database": true, "change_signal": true })
    );
    platform.data("{ projections { name } }", json!({})).await;
    platform
        .data("query ProjectionNames { projections { name } }", json!({}))
        .await;
    let metrics = platform.metrics_page().await;
    // requests by operation name (the executed operation's, or anonymous) and outcome
    for operation in ["ProjectionNames", "anonymous"] {
        let series = format!(
            "orderlog_query_request_seconds_count{{operation=\"{operation}\",outcome=\"ok\"}}"
        );
        assert!(metrics.contains(&series), "{series} in {metrics}");
    }
    // and the read pool's gauges
    assert!(
        metrics.contains("orderlog_db_pool_max_connections{pool=\"read\"}"),
        "{metrics}"
    );
    platform.stop().await;
}

#[tokio::test]
async fn the_location_of_a_placed_order_answers_with_the_order() {
    let platform = Platform::start().await;
    let location = platform.place_for_location().await;
    let answer = platform.get_json(&location).await;
    let order = &answer["data"]["order"];
    assert_eq!(order["status"], "PLACED", "{answer}");
    assert_eq!(order["version"], json!(1), "{answer}");
    assert!(
        location.contains(order["id"].as_str().expect("id")),
        "{location}"
    );
    platform.stop().await;
}

#[tokio::test]
async fn an_order_shows_its_payment_due_time_then_its_shipping_promise() {
    let platform = Platform::start().await;
    let placed = platform.place("due-1", "EUR", &[("D-1", 1, 100)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    let query = "query($id: ID!, $v: Int) { order(id: $id, minVersion: $v) { status paymentDueAt shipBy overdue } }";
    let read = platform.data(query, json!({ "id": id, "v": 1 })).await;
    let due = chrono::DateTime::parse_from_rfc3339(
        read["order"]["paymentDueAt"].as_str().expect("a due time"),
    )
    .expect("a time");
    let window = due.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        window > chrono::Duration::minutes(29) && window <= chrono::Duration::minutes(30),
        "the default window is 30 minutes: {read}"
    );
    assert_eq!(
        (read["order"]["shipBy"].is_null(), &read["order"]["overdue"]),
        (true, &json!(false))
    );

    platform.pay(&id, 100, "EUR").await;
    let read = platform.data(query, json!({ "id": id, "v": 2 })).await;
    assert_eq!(read["order"]["status"], "PAID");
    let ship_by =
        chrono::DateTime::parse_from_rfc3339(read["order"]["shipBy"].as_str().expect("a promise"))
            .expect("a time");
    let promise = ship_by.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        promise > chrono::Duration::hours(47) && promise <= chrono::Duration::hours(48),
        "the default promise is 48 hours: {read}"
    );
    platform.stop().await;
}
