//! A service running in the test's process until the test stops it (feature `http`).

use std::future::Future;

use tokio::sync::oneshot;

/// A service running in this process until stopped.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Asks the service to shut down and waits for it.
    ///
    /// # Panics
    /// When the service did not shut down cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .expect("join")
            .expect("clean shutdown");
    }

    /// Whether the service has ended (on its own, or asked to).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Runs `serve(shutdown)` on the runtime; the service stops when `shutdown` resolves.
pub fn run<F>(serve: impl FnOnce(oneshot::Receiver<()>) -> F) -> Running
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let (stop, stopped) = oneshot::channel::<()>();
    Running {
        stop: Some(stop),
        task: tokio::spawn(serve(stopped)),
    }
}
