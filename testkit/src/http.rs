//! Talking to a service under test over HTTP: a client with a token of every scope, and
//! the wait for `/readyz`.

use std::time::{Duration, Instant};

/// An HTTP client that sends [`crate::auth::authorization`] (every scope) on each request.
///
/// # Panics
/// Never in practice: the header is ASCII.
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&crate::auth::authorization())
        .expect("a token is ASCII");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// Waits until `base`'s `/readyz` answers 200.
///
/// # Panics
/// After 60 s.
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready(client, base).await {
        assert!(Instant::now() < deadline, "{base} not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `base`'s `/readyz` answers 200 now.
pub async fn ready(client: &reqwest::Client, base: &str) -> bool {
    client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}
