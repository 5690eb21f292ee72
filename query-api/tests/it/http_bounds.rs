//! Slow and idle clients hold nothing for long on query-api either: headers that never end
//! are cut off, a body that never ends gets 408, past the cap a request gets 503 at once,
//! and a stop ends within its grace with such clients and a WebSocket connected.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use testkit::slow::Stalled;

use crate::support::*;

fn addr(platform: &Platform) -> SocketAddr {
    platform
        .query
        .trim_start_matches("http://")
        .parse()
        .expect("addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_clients_are_cut_off_and_a_stop_ends_within_its_grace() {
    let platform = Platform::start_with(|config| {
        config.http.header_read_timeout_ms = 500;
        config.http.request_timeout_ms = 1_500;
        config.http.max_in_flight = 2;
        config.http.shutdown_grace_ms = 1_000;
    })
    .await;
    let at = addr(&platform);
    let authorization = testkit::auth::authorization();
    let (cut, timed_out, refused) = tokio::task::spawn_blocking(move || {
        let mut headers = Stalled::headers(at);
        let cut = headers.until_closed(Duration::from_secs(10));
        let mut bodies = [
            Stalled::body(at, "/graphql", &authorization),
            Stalled::body(at, "/graphql", &authorization),
        ];
        std::thread::sleep(Duration::from_millis(300));
        let refused =
            Stalled::sending_complete(at, "/healthz").until_closed(Duration::from_secs(5));
        let timed_out = bodies[0].until_closed(Duration::from_secs(10));
        let _ = bodies[1].until_closed(Duration::from_secs(10));
        (cut, timed_out, refused)
    })
    .await
    .expect("join");
    assert!(
        cut.is_some(),
        "a request whose headers never end is cut off"
    );
    let timed_out = timed_out.expect("answered");
    assert!(timed_out.starts_with("HTTP/1.1 408"), "{timed_out}");
    let refused = refused.expect("answered");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let data = platform.data("{ projections { name } }", json!({})).await;
    assert!(data["projections"].is_array());

    // A stop with an idle connection, stalled requests and a subscription open.
    let mut socket = crate::subscriptions::connect(
        &platform,
        json!({ "Authorization": testkit::auth::authorization() }),
    )
    .await;
    assert_eq!(
        crate::subscriptions::next_json(&mut socket).await["type"],
        "connection_ack"
    );
    let authorization = testkit::auth::authorization();
    let clients = tokio::task::spawn_blocking(move || {
        (
            Stalled::idle(at),
            Stalled::headers(at),
            Stalled::body(at, "/graphql", &authorization),
        )
    })
    .await
    .expect("join");
    tokio::time::timeout(Duration::from_secs(30), platform.stop())
        .await
        .expect("the services stop with clients connected");
    drop((clients, socket));
}
