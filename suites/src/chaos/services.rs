//! The platform as separate processes, each of which the nemesis can kill, pause, resume
//! and start again: two processors, an HTTP tier, two projector processes (so two workers
//! per projection) and query-api.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// One service process and how to start it again.
pub(crate) struct Service {
    pub(crate) name: String,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    pub(crate) port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    pub(crate) fn new(
        name: &str,
        binary: PathBuf,
        args: &[&str],
        env: Vec<(String, String)>,
        port: u16,
        logs: &Path,
    ) -> Self {
        Self {
            name: name.to_owned(),
            binary,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env,
            port,
            log: logs.join(format!("chaos-{name}.log")),
            child: None,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.binary)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            // The services log to stdout (JSON lines); a panic goes to stderr.
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("starting {} ({}): {e}", self.name, self.binary.display())
            })?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL and reap.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP or SIGCONT.
    pub(crate) fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self
            .child
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| anyhow::anyhow!("{} is not running", self.name))?;
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill {signal} {} failed", self.name);
        Ok(())
    }

    /// SIGTERM and wait for the exit; its code.
    pub(crate) fn terminate(&mut self, patience: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = self.signal_pid(child.id(), "-TERM");
        let deadline = Instant::now() + patience;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal_pid(&self, pid: u32, signal: &str) -> std::io::Result<std::process::ExitStatus> {
        Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
    }

    /// CPU time the process has used so far, user and system (Linux `/proc`).
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        let pid = self.child.as_ref()?.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // USER_HZ is 100 on Linux.
        Some(Duration::from_millis(ticks * 10))
    }

    /// Started and not stopped by this process (it may have exited by itself).
    pub(crate) fn started(&self) -> bool {
        self.child.is_some()
    }

    /// Still running (not exited by itself).
    pub(crate) fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until every service's `/readyz` answers 200; the time it took.
pub(crate) async fn wait_ready(
    http: &reqwest::Client,
    services: &mut [Service],
    patience: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let mut unready = Vec::new();
        for service in services.iter_mut() {
            anyhow::ensure!(
                service.alive(),
                "{} exited by itself: see {}",
                service.name,
                service.log.display()
            );
            let ready = http
                .get(format!("{}/readyz", service.url()))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if !ready {
                unready.push(service.name.clone());
            }
        }
        if unready.is_empty() {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < patience,
            "not ready within {patience:?}: {unready:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Where a suite's platform comes from: the PostgreSQL server it creates its database on,
/// and the service binaries it starts.
#[derive(Debug, clap::Args)]
pub(crate) struct PlatformArgs {
    /// A PostgreSQL server URL; each run creates a database of its own on it.
    #[arg(
        long,
        env = "ORDERLOG_DATABASE_URL",
        default_value = "postgres://orderlog:orderlog@127.0.0.1:5432/orderlog",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub(crate) database_url: String,
    /// Where the service binaries are (default: next to this one).
    #[arg(long)]
    pub(crate) bin_dir: Option<PathBuf>,
}

/// The directory of the platform's binaries: `bin_dir`, or the one this binary is in;
/// every service binary and the `orderlog` CLI must be there.
pub(crate) fn binaries(bin_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let bin = match bin_dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| anyhow::anyhow!("no directory for this binary"))?,
    };
    for name in ["command-api", "projectors", "query-api", "orderlog"] {
        anyhow::ensure!(
            bin.join(name).exists(),
            "{} not found: build the workspace's binaries first (compose/local/build.sh)",
            bin.join(name).display()
        );
    }
    Ok(bin)
}
