//! `suites scale`: every tier scaled out behind a real load balancer, under load. Three
//! processors (`ORDERLOG_ROLE=processor`), two HTTP tiers and two query-apis behind HAProxy
//! (health checks on `/readyz`), two projector processes (two workers per projection);
//! the chaos workload's clients send order flows through the balancer and GraphQL readers
//! read through it. A quarter into the load one more instance of each tier starts; later
//! one of the first instances of each tier gets SIGTERM. Then the checks: every
//! acknowledged command's events in the log once, every 503 resolved, `orderlog verify`
//! equal, every removed instance exited 0, every added one took work, every read answered.
//!
//! `--compare` first measures commands/s with one instance of each tier and with the
//! scaled-out platform (no changes), each on fresh topics, for docs/performance.md.

mod checks;
mod platform;
mod readers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use crate::chaos::services::{self, Service};
use crate::chaos::workload;
use checks::checks;
use platform::{Platform, TIER_NAMES};

#[derive(Debug, clap::Args)]
pub(crate) struct Scale {
    /// The Kafka bootstrap servers.
    #[arg(
        long,
        env = "ORDERLOG_KAFKA_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap: String,
    /// Replicas of each topic (1 on the local single broker).
    #[arg(long, default_value_t = 1)]
    replication: u16,
    #[command(flatten)]
    platform: services::PlatformArgs,
    /// Concurrent command clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Concurrent GraphQL readers.
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Seconds of load in the run with instances added and removed.
    #[arg(long, default_value_t = 40)]
    seconds: u64,
    /// Also measure commands/s with one instance of each tier and scaled out.
    #[arg(long)]
    compare: bool,
    /// The scaled-out instance counts `--compare` measures: processors, HTTP tiers,
    /// projector processes, query-apis.
    #[arg(long, value_delimiter = ',', default_value = "3,2,2,2")]
    compare_counts: Vec<usize>,
    /// Only `--compare`: skip the run with instances added and removed.
    #[arg(long)]
    compare_only: bool,
    /// Seconds of load in each `--compare` run.
    #[arg(long, default_value_t = 30)]
    compare_seconds: u64,
    /// First of 17 consecutive ports (services, then the balancer's two frontends).
    #[arg(long, default_value_t = 18_400)]
    first_port: u16,
    /// Where the services and HAProxy write their logs and its config.
    #[arg(long, default_value = ".local/logs")]
    log_dir: PathBuf,
}

/// Instances of each tier: the slots' sizes are these plus one (the instance added).
#[derive(Debug, Clone, Copy)]
struct Counts {
    processors: usize,
    http: usize,
    projectors: usize,
    query: usize,
}

const ONE_EACH: Counts = Counts {
    processors: 1,
    http: 1,
    projectors: 1,
    query: 1,
};
const SCALED: Counts = Counts {
    processors: 3,
    http: 2,
    projectors: 2,
    query: 2,
};
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// What one run under load saw.
struct Run {
    record: workload::Record,
    reads: readers::Reads,
    load: Duration,
}

impl Run {
    fn commands_per_second(&self) -> f64 {
        self.record.commands_acknowledged as f64 / self.load.as_secs_f64()
    }
}

/// Clients and readers running through the balancer.
struct Load {
    stop: Arc<AtomicBool>,
    started: Instant,
    clients: Vec<tokio::task::JoinHandle<workload::Record>>,
    readers: Vec<tokio::task::JoinHandle<readers::Reads>>,
}

impl Load {
    fn start(
        http: &reqwest::Client,
        platform: &Platform,
        clients: usize,
        readers_n: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(workload::Progress::default());
        let crew = workload::Crew {
            http: http.clone(),
            bases: vec![platform.commands_url.clone()],
            stop: stop.clone(),
            drain: Duration::from_secs(180),
            progress: progress.clone(),
        };
        let clients = (0..clients)
            .map(|id| tokio::spawn(workload::client(crew.clone(), id)))
            .collect();
        let readers = (0..readers_n)
            .map(|_| {
                tokio::spawn(readers::reader(
                    http.clone(),
                    platform.queries_url.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        Self {
            stop,
            started: Instant::now(),
            clients,
            readers,
        }
    }

    /// Waits until `seconds` after the start, stops the clients and collects what they saw
    /// (commands in flight are finished first).
    async fn finish(self, seconds: u64) -> anyhow::Result<Run> {
        tokio::time::sleep_until((self.started + Duration::from_secs(seconds)).into()).await;
        let load = self.started.elapsed();
        self.stop.store(true, Ordering::SeqCst);
        let mut record = workload::Record::default();
        for client in self.clients {
            record.absorb(client.await?);
        }
        let mut reads = readers::Reads::default();
        for reader in self.readers {
            let r = reader.await?;
            reads.answered += r.answered;
            reads.retried += r.retried;
            reads.failed.extend(r.failed);
        }
        Ok(Run {
            record,
            reads,
            load,
        })
    }
}

async fn drop_run(args: &Scale, platform: Platform) -> anyhow::Result<()> {
    let Platform {
        mut tiers,
        prefix,
        database_url,
        ..
    } = platform;
    tokio::task::block_in_place(|| {
        for service in tiers.iter_mut().rev().flatten() {
            service.terminate(Duration::from_secs(20));
        }
    });
    testkit::harness::clean::remove_topics(&args.bootstrap, &[prefix.as_str()]).await?;
    let name = database_url
        .rsplit_once('/')
        .map_or("", |(_, name)| name)
        .to_owned();
    let mut admin = PgConnection::connect(&args.platform.database_url).await?;
    admin
        .execute(AssertSqlSafe(format!(
            r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
        )))
        .await?;
    Ok(())
}

/// Commands/s with `counts` instances and no changes, on fresh topics.
async fn throughput(
    args: &Scale,
    bin: &Path,
    auth: &testkit::harness::auth::OwnAuth,
    http: &reqwest::Client,
    counts: Counts,
) -> anyhow::Result<f64> {
    let database_url = crate::chaos::fresh_database(&args.platform.database_url, "scale").await?;
    let mut platform = Platform::start(args, bin, counts, auth, database_url)?;
    platform.start_initial(http).await?;
    // The balancer's first health checks, and the platform warmed by a few seconds of load.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Load::start(http, &platform, args.clients, 0)
        .finish(5)
        .await?;
    let cpu = |platform: &Platform| {
        platform
            .tiers
            .each_ref()
            .map(|tier| tier.iter().filter_map(Service::cpu_time).sum::<Duration>())
    };
    let before = cpu(&platform);
    let run = Load::start(http, &platform, args.clients, 0)
        .finish(args.compare_seconds)
        .await?;
    let after = cpu(&platform);
    let rate = run.commands_per_second();
    // Where the CPU went: each tier's processes together, per 1,000 commands.
    let per_thousand: Vec<String> = TIER_NAMES
        .iter()
        .zip(before.iter().zip(after.iter()))
        .map(|(name, (b, a))| {
            let used = a.saturating_sub(*b).as_secs_f64();
            format!(
                "{name} {:.2} s",
                used * 1000.0 / run.record.commands_acknowledged.max(1) as f64
            )
        })
        .collect();
    println!(
        "scale:   {rate:.0} commands/s; CPU per 1,000 commands: {}",
        per_thousand.join(", ")
    );
    drop_run(args, platform).await?;
    Ok(rate)
}

pub(crate) async fn run(args: Scale) -> anyhow::Result<()> {
    let bin = services::binaries(args.platform.bin_dir.as_deref())?;
    std::fs::create_dir_all(&args.log_dir)?;
    let auth = testkit::harness::auth::OwnAuth::generate();
    let http = reqwest::Client::builder()
        .default_headers(auth.headers()?)
        .build()?;
    let started = Instant::now();

    let mut compared = None;
    if args.compare {
        let one = throughput(&args, &bin, &auth, &http, ONE_EACH).await?;
        println!("scale: one instance of each tier: {one:.0} commands/s");
        let counts = match args.compare_counts[..] {
            [processors, http, projectors, query] => Counts {
                processors,
                http,
                projectors,
                query,
            },
            _ => anyhow::bail!("--compare-counts takes four numbers"),
        };
        anyhow::ensure!(
            [
                counts.processors,
                counts.http,
                counts.projectors,
                counts.query
            ]
            .iter()
            .all(|n| (1..=3).contains(n)),
            "--compare-counts: 1 to 3 instances per tier"
        );
        let many = throughput(&args, &bin, &auth, &http, counts).await?;
        println!(
            "scale: {} processors, {} HTTP tiers, {} projector processes, {} query-apis: {many:.0} commands/s ({:.2}x)",
            counts.processors,
            counts.http,
            counts.projectors,
            counts.query,
            many / one
        );
        compared = Some((one, many));
        if args.compare_only {
            return Ok(());
        }
    }

    let database_url = crate::chaos::fresh_database(&args.platform.database_url, "scale").await?;
    let mut platform = Platform::start(&args, &bin, SCALED, &auth, database_url)?;
    let ready = platform.start_initial(&http).await?;
    println!(
        "scale: 3 processors, 2 HTTP tiers, 2 projector processes, 2 query-apis behind HAProxy ready after {:.1} s (topics {}*)",
        ready.as_secs_f64(),
        platform.prefix
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seconds = args.seconds;
    let load = Load::start(&http, &platform, args.clients, args.readers);
    let exits = change_instances(&http, &mut platform, load.started, seconds).await;
    let run = load.finish(seconds).await?;
    let exits = exits?;
    println!(
        "scale: {} commands acknowledged in {:.0} s ({:.0}/s), {} reads answered",
        run.record.commands_acknowledged,
        run.load.as_secs_f64(),
        run.commands_per_second(),
        run.reads.answered
    );

    let outcomes = checks(&args, &bin, &http, &mut platform, &run, &exits).await?;
    for outcome in &outcomes {
        println!(
            "scale: [{}] {}: {}",
            if outcome.passed { "pass" } else { "FAIL" },
            outcome.name,
            outcome.detail
        );
    }
    if let Some((one, many)) = compared {
        println!(
            "scale: throughput scaled out / one instance each: {:.2} ({many:.0} / {one:.0} commands/s)",
            many / one
        );
    }
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name)
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "scale: checks failed: {failed:?} (topics {}* and database {} kept; logs in {})",
        platform.prefix,
        platform.database_url,
        args.log_dir.display()
    );
    drop_run(&args, platform).await?;
    println!(
        "scale: every check passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A quarter into the load, one more instance of each tier; at five eighths, SIGTERM to
/// the first instance of each. The removed instances' exit codes.
async fn change_instances(
    http: &reqwest::Client,
    platform: &mut Platform,
    load_started: Instant,
    seconds: u64,
) -> anyhow::Result<Vec<(String, Option<i32>)>> {
    tokio::time::sleep_until((load_started + Duration::from_secs(seconds / 4)).into()).await;
    for tier in &mut platform.tiers {
        let added = tier.last_mut().expect("a slot to add");
        println!("scale: adding {}", added.name);
        added.start()?;
    }
    for tier in &mut platform.tiers {
        let last = tier.len() - 1;
        services::wait_ready(http, &mut tier[last..], Duration::from_secs(120)).await?;
    }
    tokio::time::sleep_until((load_started + Duration::from_secs(seconds * 5 / 8)).into()).await;
    let mut exits = Vec::new();
    for tier in &mut platform.tiers {
        let removed = &mut tier[0];
        println!("scale: removing {} (SIGTERM)", removed.name);
        let name = removed.name.clone();
        let code = tokio::task::block_in_place(|| removed.terminate(Duration::from_secs(30)));
        exits.push((name, code));
    }
    Ok(exits)
}
