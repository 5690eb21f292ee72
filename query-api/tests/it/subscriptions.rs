//! Subscriptions over websockets (graphql-transport-ws), pushed after commands.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::*;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn subscribe(platform: &Platform, query: &str) -> Socket {
    let mut socket = connect(
        platform,
        json!({ "Authorization": testkit::auth::authorization() }),
    )
    .await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    socket
        .send(Message::text(subscribe.to_string()))
        .await
        .expect("subscribe");
    socket
}

/// A graphql-transport-ws connection that has sent `connection_init` with `payload`.
pub(crate) async fn connect(platform: &Platform, payload: Value) -> Socket {
    let url = format!(
        "{}/graphql/ws",
        platform.query.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects");
    socket
        .send(Message::text(
            json!({ "type": "connection_init", "payload": payload }).to_string(),
        ))
        .await
        .expect("init");
    socket
}

pub(crate) async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a message within 30 s")
            .expect("socket open")
            .expect("message");
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).expect("json");
            if value["type"] != "ping" {
                return value;
            }
        }
    }
}

#[tokio::test]
async fn subscribers_receive_updates_after_commands() {
    let platform = Platform::start().await;
    let placed = platform.place("subs", "EUR", &[("S-1", 1, 100)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    platform
        .caught_up(placed["consistency_token"].as_str().expect("token"), "subs")
        .await;

    let mut one = subscribe(
        &platform,
        &format!(r#"subscription {{ orderUpdated(id: "{id}") {{ id version status }} }}"#),
    )
    .await;
    let mut many = subscribe(
        &platform,
        r#"subscription { ordersUpdated(customerId: "subs") { id version } }"#,
    )
    .await;
    // Give the server a moment to register both subscriptions before the command.
    tokio::time::sleep(Duration::from_millis(300)).await;

    platform.pay(&id, 100, "EUR").await;
    let update = next_json(&mut one).await;
    assert_eq!(update["type"], "next", "{update}");
    assert_eq!(
        update["payload"]["data"]["orderUpdated"],
        json!({ "id": id, "version": 2, "status": "PAID" })
    );
    let update = next_json(&mut many).await;
    assert_eq!(
        update["payload"]["data"]["ordersUpdated"],
        json!({ "id": id, "version": 2 })
    );

    // A new order of the customer reaches the customer's subscription, not the order's.
    let second = platform.place("subs", "EUR", &[("S-2", 1, 100)]).await;
    let update = next_json(&mut many).await;
    assert_eq!(
        update["payload"]["data"]["ordersUpdated"],
        json!({ "id": second["order_id"], "version": 1 })
    );
    platform
        .command(
            Method::POST,
            &format!("/v1/orders/{id}/shipment"),
            json!({ "carrier": "UPS", "tracking_number": "1Z999AA1" }),
        )
        .await;
    let update = next_json(&mut one).await;
    assert_eq!(
        update["payload"]["data"]["orderUpdated"]["version"], 3,
        "the order's own stream skipped the other order"
    );

    // A bad id is an error on the subscription's stream, with its code, and then the end.
    let mut bad = subscribe(
        &platform,
        r#"subscription { orderUpdated(id: "nope") { id } }"#,
    )
    .await;
    let error = next_json(&mut bad).await;
    assert_eq!(error["type"], "next", "{error}");
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{error}"
    );
    assert_eq!(next_json(&mut bad).await["type"], "complete");
    platform.stop().await;
}
