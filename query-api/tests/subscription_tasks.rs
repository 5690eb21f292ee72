//! Subscriptions are bounded and clean up after themselves: 1,000 subscriptions on an order
//! that never changes, over 10 connections of 100 (the most one connection may hold), all
//! end when their clients leave, and `orderlog_query_subscriptions_open` returns to its
//! baseline. Past the connection limit an upgrade is refused with 503. Its own test binary,
//! so the process's gauge counts this test's subscriptions alone.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use testkit::query_platform::QueryPlatform as Platform;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(platform: &Platform) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!(
        "{}/graphql/ws",
        platform.query.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": testkit::auth::authorization() } });
    socket
        .send(Message::text(init.to_string()))
        .await
        .expect("init");
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    Ok(socket)
}

async fn next(socket: &mut Socket) -> Value {
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

async fn subscribe(socket: &mut Socket, id: &str, order: &str) {
    let message = json!({ "id": id, "type": "subscribe", "payload": {
        "query": format!(r#"subscription {{ orderUpdated(id: "{order}") {{ id version }} }}"#) } });
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("subscribe");
}

/// The gauge, a whole number rendered as a float.
async fn open_subscriptions(platform: &Platform) -> i64 {
    let page = platform.metrics_page().await;
    page.lines()
        .find_map(|line| line.strip_prefix("orderlog_query_subscriptions_open "))
        .map_or(0, |value| {
            value.trim().parse::<f64>().expect("a number") as i64
        })
}

async fn wait_open(platform: &Platform, want: i64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let open = open_subscriptions(platform).await;
        if open == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {open} subscriptions open, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_closed_subscriptions_leave_nothing_behind() {
    let platform = Platform::start_with(|config| {
        config.max_ws_connections = 11;
        config.max_subscriptions_per_connection = 100;
    })
    .await;
    let placed = platform.place("quiet", "EUR", &[("Q-1", 1, 100)]).await;
    let order = placed["order_id"].as_str().expect("id").to_owned();
    // The read model holds the order before anyone subscribes: nothing changes after.
    platform
        .caught_up(
            placed["consistency_token"].as_str().expect("token"),
            "quiet",
        )
        .await;
    let baseline = open_subscriptions(&platform).await;

    let mut sockets = Vec::new();
    for connection in 0..10 {
        let mut socket = open(&platform)
            .await
            .expect("a connection within the limit");
        for n in 0..100 {
            subscribe(&mut socket, &format!("c{connection}-{n}"), &order).await;
        }
        sockets.push(socket);
    }
    wait_open(&platform, baseline + 1000, "after subscribing").await;

    // The 101st subscription of a connection is refused with a code.
    subscribe(&mut sockets[0], "one-too-many", &order).await;
    let refused = next(&mut sockets[0]).await;
    assert_eq!(refused["id"], "one-too-many", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
        "{refused}"
    );

    // The 11th connection is the last one allowed; the 12th upgrade is refused.
    let last = open(&platform).await.expect("the 11th connection");
    match open(&platform).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            assert!(response.headers().contains_key("retry-after"));
        }
        other => panic!(
            "the 12th connection should be refused: {:?}",
            other.map(|_| ())
        ),
    }

    for mut socket in sockets.drain(..) {
        socket.close(None).await.expect("close");
    }
    drop(last);
    wait_open(&platform, baseline, "after the clients left").await;

    // Their places are free again: a new connection subscribes and hears of a change.
    let mut socket = open(&platform)
        .await
        .expect("a connection after the others left");
    subscribe(&mut socket, "after", &order).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    platform.pay(&order, 100, "EUR").await;
    let update = next(&mut socket).await;
    assert_eq!(
        update["payload"]["data"]["orderUpdated"]["version"],
        json!(2),
        "{update}"
    );
    platform.stop().await;
}
