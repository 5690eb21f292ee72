//! Takeover after a kill, measured end to end: two command-api processes share the
//! processor group of a partition holding N events; the owner is killed with SIGKILL, and
//! the clock runs until the survivor answers a command (session timeout, rebalance,
//! fencing the dead writer, rebuilding the partition's orders, processing the command).

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub(crate) struct Takeover {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// Events in the partition's history (each order: placed, three lines added, paid).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// The command-api binary (default: next to this one).
    #[arg(long)]
    command_api: Option<PathBuf>,
    /// Ports of the two processes.
    #[arg(long, default_value_t = 18_180)]
    first_port: u16,
    /// Where the two processes write their logs.
    #[arg(long, default_value = "/tmp")]
    log_dir: PathBuf,
}

/// The processors' session as the local platform runs them (`LOCAL_SESSION_TIMEOUT_MS` in
/// compose/local/lib.sh; the local broker allows it).
const LOCAL_SESSION_TIMEOUT_MS: u64 = 2_000;

/// The processors' session: `ORDERLOG_PROCESSOR_SESSION_TIMEOUT_MS` when this process has
/// it, otherwise the local platform's.
fn session_timeout_ms() -> String {
    std::env::var("ORDERLOG_PROCESSOR_SESSION_TIMEOUT_MS")
        .unwrap_or_else(|_| LOCAL_SESSION_TIMEOUT_MS.to_string())
}

/// A command-api process, killed when dropped.
pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) url: String,
}

/// The command-api binary: `--command-api`, or the one next to this binary.
pub(crate) fn command_api_binary(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let binary = match given {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("command-api"),
    };
    anyhow::ensure!(
        binary.exists(),
        "{} not found: build it with `cargo build --release -p command-api` or pass --command-api",
        binary.display()
    );
    Ok(binary)
}

/// Starts command-api on one-partition topics under `prefix`, every role in the process.
pub(crate) fn spawn_command_api(
    binary: &std::path::Path,
    bootstrap: &str,
    prefix: &str,
    port: u16,
    log: &std::path::Path,
    auth: &testkit::harness::auth::OwnAuth,
) -> anyhow::Result<Service> {
    let log = std::fs::File::create(log)?;
    let child = Command::new(binary)
        .env("ORDERLOG_KAFKA_BOOTSTRAP", bootstrap)
        .env("ORDERLOG_TOPIC_PREFIX", prefix)
        .env("ORDERLOG_TOPIC_PARTITIONS", "1")
        .env("ORDERLOG_PROCESSOR_GROUP", format!("{prefix}processors"))
        .env("ORDERLOG_COMMAND_API_LISTEN", format!("127.0.0.1:{port}"))
        .env("ORDERLOG_RESULT_TIMEOUT_MS", "120000")
        .env(
            "ORDERLOG_PROCESSOR_SESSION_TIMEOUT_MS",
            session_timeout_ms(),
        )
        .envs(auth.env())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    Ok(Service {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Takeover {
    /// `events` events of history, as `bench all` takes it.
    pub(crate) fn of(kafka: testkit::harness::stack::Kafka, events: u64) -> Self {
        Self {
            kafka,
            events,
            command_api: None,
            first_port: 18_180,
            log_dir: std::env::temp_dir(),
        }
    }
}

pub(crate) async fn run(args: Takeover) -> anyhow::Result<()> {
    measure(&args).await.map(|_| ())
}

/// Seconds from SIGKILL to the survivor's answer, and of them the rebuild's.
pub(crate) async fn measure(args: &Takeover) -> anyhow::Result<(f64, Option<f64>)> {
    let binary = command_api_binary(args.command_api.as_ref())?;
    let (prefix, _, _) = crate::rebuild::filled_log(&args.kafka.bootstrap, args.events).await?;
    let auth = testkit::harness::auth::OwnAuth::generate();
    let http = reqwest::Client::builder()
        .default_headers(auth.headers()?)
        .timeout(Duration::from_secs(120))
        .build()?;
    let start = |n: u16| -> anyhow::Result<Service> {
        spawn_command_api(
            &binary,
            &args.kafka.bootstrap,
            &prefix,
            args.first_port + n,
            &args.log_dir.join(format!("takeover-{n}.log")),
            &auth,
        )
    };

    let started = Instant::now();
    let mut owner = start(0)?;
    wait_for(
        &http,
        &format!("{}/readyz", owner.url),
        Duration::from_secs(180),
    )
    .await?;
    println!(
        "first process owns the partition after {:.1} s (start, join, rebuild)",
        started.elapsed().as_secs_f64()
    );
    place(&http, &owner.url).await?;
    let survivor = start(1)?;
    wait_for(
        &http,
        &format!("{}/healthz", survivor.url),
        Duration::from_secs(60),
    )
    .await?;
    // Let the second process join the group and settle with nothing assigned.
    tokio::time::sleep(Duration::from_secs(5)).await;

    owner.child.kill()?;
    let killed = Instant::now();
    owner.child.wait()?;
    let answered = place(&http, &survivor.url).await?;
    let takeover = killed.elapsed();
    println!(
        "takeover: the survivor answered a command {:.2} s after SIGKILL ({} events of history; HTTP {answered})",
        takeover.as_secs_f64(),
        args.events
    );
    let metrics = http
        .get(format!("{}/metrics", survivor.url))
        .send()
        .await?
        .text()
        .await?;
    let rebuild = metrics
        .lines()
        .find_map(|l| l.strip_prefix("orderlog_processor_rebuild_seconds_sum"))
        .and_then(|rest| rest.trim().parse::<f64>().ok());
    if let Some(rebuild) = rebuild {
        println!("of which rebuilding the partition: {rebuild:.2} s");
    }
    drop(survivor);
    testkit::harness::clean::remove_topics(&args.kafka.bootstrap, &[&prefix]).await?;
    Ok((takeover.as_secs_f64(), rebuild))
}

pub(crate) async fn wait_for(
    http: &reqwest::Client,
    url: &str,
    patience: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    loop {
        if let Ok(response) = http.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{url} did not answer 200 in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Places an order and returns the status; anything but 201 is an error.
pub(crate) async fn place(http: &reqwest::Client, url: &str) -> anyhow::Result<u16> {
    let response = http
        .post(format!("{url}/v1/orders"))
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&crate::http_load::place())
        .send()
        .await?;
    let status = response.status().as_u16();
    anyhow::ensure!(
        status == 201,
        "placing an order answered {status}: {}",
        response.text().await.unwrap_or_default()
    );
    Ok(status)
}
