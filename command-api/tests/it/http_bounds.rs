//! Slow and idle clients hold nothing for long: a request whose headers never end is cut
//! off, one whose body never ends gets 408, past the cap on requests in flight a request
//! gets 503 at once, and a stop ends within its grace whatever the clients leave open.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use command_api::config::Role;
use testkit::slow::Stalled;

use crate::support::*;

fn addr(app: &TestApp) -> SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_clients_are_cut_off_and_the_cap_answers_503_at_once() {
    let mut config = test_config(&unique_prefix(), Role::All);
    config.http.header_read_timeout_ms = 500;
    config.http.request_timeout_ms = 1_500;
    config.http.max_in_flight = 2;
    let app = TestApp::spawn_with(config).await;
    let at = addr(&app);
    let authorization = testkit::auth::authorization();

    let (cut, timed_out, refused) = tokio::task::spawn_blocking(move || {
        let mut headers = Stalled::headers(at);
        let cut = headers.until_closed(Duration::from_secs(10));
        // Two bodies that never finish hold both places...
        let mut bodies = [
            Stalled::body(at, "/v1/orders", &authorization),
            Stalled::body(at, "/v1/orders", &authorization),
        ];
        std::thread::sleep(Duration::from_millis(300));
        // ...so a third request is refused at once, not queued.
        let mut third = Stalled::sending_complete(at, "/healthz");
        let refused = third.until_closed(Duration::from_secs(5));
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
    let timed_out = timed_out.expect("a body that never ends is answered");
    assert!(timed_out.starts_with("HTTP/1.1 408"), "{timed_out}");
    assert!(timed_out.contains("request_timeout"), "{timed_out}");
    let refused = refused.expect("answered");
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_lowercase().contains("retry-after: 1"),
        "{refused}"
    );

    // Once they are gone the service serves again.
    assert_eq!(app.place(place_body()).await.status, 201);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stop_ends_within_its_grace_with_slow_and_idle_clients_connected() {
    let mut config = test_config(&unique_prefix(), Role::All);
    config.http.shutdown_grace_ms = 1_000;
    let app = TestApp::spawn_with(config).await;
    let at = addr(&app);
    let authorization = testkit::auth::authorization();
    let clients = tokio::task::spawn_blocking(move || {
        (
            Stalled::idle(at),
            Stalled::headers(at),
            Stalled::body(at, "/v1/orders", &authorization),
        )
    })
    .await
    .expect("join");
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), app.stop())
        .await
        .expect("the service stops with clients connected");
    let took = started.elapsed();
    drop(clients);
    // The grace is 1 s; the processors' own stop comes after it. A stop that waited for
    // the clients would never end (the timeout above).
    assert!(took < Duration::from_secs(30), "{took:?}");
}
