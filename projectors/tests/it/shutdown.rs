//! SIGTERM with work in flight and clients connected: the projectors process stops its
//! operations server, finishes the batch in flight, leaves its group and exits 0 within a
//! bound; the next process goes on from the stored offsets, so nothing is applied twice
//! or skipped.

use std::net::SocketAddr;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use testkit::slow::Stalled;

use crate::crash::{Worker, assert_read_models_equal_the_log, histories, spawn_binary_on};
use crate::support::*;

/// Waits until the process answers on `addr`.
fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "the projectors never listened on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM and waits, at most `bound`, for the exit status.
fn terminate(worker: &mut Worker, bound: Duration) -> std::process::ExitStatus {
    let signalled = Process::new("kill")
        .args(["-TERM", &worker.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = worker.0.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the projectors did not exit within {bound:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_with_clients_connected_exits_zero_and_loses_nothing() {
    let stack = Stack::new().await;
    projectors::db::migrate(&stack.pool).await.expect("migrate");
    let addr: SocketAddr = format!("127.0.0.1:{}", testkit::free_port())
        .parse()
        .expect("addr");
    let grace = [("ORDERLOG_SHUTDOWN_GRACE_MS", "1000")];
    let mut worker = spawn_binary_on(&stack, &addr.to_string(), &grace);
    let mut events = stack.write(&histories(400));
    wait_listening(addr);
    // Part of the way through, with an idle keep-alive connection and a request whose
    // headers never end on the operations port.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM order_timeline")
            .fetch_one(&stack.pool)
            .await
            .unwrap_or(0);
        if applied > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    events.extend(stack.write(&histories(400)));
    let clients =
        tokio::task::spawn_blocking(move || (Stalled::idle(addr), Stalled::headers(addr)))
            .await
            .expect("join");

    let status = tokio::task::spawn_blocking(move || {
        let status = terminate(&mut worker, Duration::from_secs(30));
        drop(worker);
        status
    })
    .await
    .expect("join");
    drop(clients);
    assert_eq!(status.code(), Some(0), "{status:?}");

    // The next process finds every event either applied once or still to apply.
    let worker = spawn_binary_on(&stack, "127.0.0.1:0", &[]);
    assert_read_models_equal_the_log(&stack, &events).await;
    drop(worker);
}
