//! Processor memory per order: command-api taking over a one-partition log of N orders'
//! snapshots, its resident set once the partition serves commands, against the same process
//! over an empty log. Twice: N live orders (paid, four lines), N final ones (delivered).
//! Only snapshots are written (a takeover reads nothing else while they are current).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use command_api::processor::measure::OrderTemplate;

use crate::takeover::{Service, command_api_binary, place, spawn_command_api, wait_for};

#[derive(Debug, clap::Args)]
pub(crate) struct Memory {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// Orders in each measured partition.
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// The command-api binary (default: next to this one).
    #[arg(long)]
    command_api: Option<PathBuf>,
    #[arg(long, default_value_t = 18_190)]
    port: u16,
    /// Where the processes write their logs.
    #[arg(long, default_value = "/tmp")]
    log_dir: PathBuf,
}

impl Memory {
    /// `orders` orders each, as `bench all` takes it.
    pub(crate) fn of(kafka: testkit::harness::stack::Kafka, orders: u64) -> Self {
        Self {
            kafka,
            orders,
            command_api: None,
            port: 18_190,
            log_dir: std::env::temp_dir(),
        }
    }
}

/// What one run found, for `bench all`.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    pub(crate) orders: u64,
    pub(crate) live_bytes_per_order: f64,
    pub(crate) final_bytes_per_order: f64,
    pub(crate) snapshot_bytes_live: usize,
    pub(crate) snapshot_bytes_live_format_1: usize,
    pub(crate) takeover_seconds_live: f64,
}

pub(crate) async fn run(args: Memory) -> anyhow::Result<()> {
    let figures = measure(&args).await?;
    println!(
        "processor memory: {:.0} B per live order, {:.0} B per final order ({} orders each; a live order's snapshot {} B, {} B in format 1)",
        figures.live_bytes_per_order,
        figures.final_bytes_per_order,
        figures.orders,
        figures.snapshot_bytes_live,
        figures.snapshot_bytes_live_format_1,
    );
    Ok(())
}

pub(crate) async fn measure(args: &Memory) -> anyhow::Result<Figures> {
    let binary = command_api_binary(args.command_api.as_ref())?;
    let live = OrderTemplate::new(false)?;
    let delivered = OrderTemplate::new(true)?;
    let bootstrap = &args.kafka.bootstrap;
    let mut prefixes = Vec::new();
    let mut resident = Vec::new();
    for (label, slot, orders) in [
        ("empty", &live, 0),
        ("live", &live, args.orders),
        ("final", &delivered, args.orders),
    ] {
        let (prefix, kafka, topics) =
            testkit::harness::stack::bench_topics(bootstrap, "memory-", 1).await?;
        prefixes.push(prefix.clone());
        let template = slot.clone();
        let written =
            tokio::task::spawn_blocking(move || template.fill(&kafka, &topics, orders)).await??;
        let log = args.log_dir.join(format!("memory-{label}.log"));
        let auth = testkit::harness::auth::OwnAuth::generate();
        let service = spawn_command_api(&binary, bootstrap, &prefix, args.port, &log, &auth)?;
        let started = Instant::now();
        let http = reqwest::Client::builder()
            .default_headers(auth.headers()?)
            .timeout(Duration::from_secs(120))
            .build()?;
        wait_for(
            &http,
            &format!("{}/readyz", service.url),
            Duration::from_secs(300),
        )
        .await?;
        place(&http, &service.url).await?;
        let ready = started.elapsed().as_secs_f64();
        // Settled: the takeover's reading buffers are gone once the partition serves.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = resident_bytes(&service)?;
        println!(
            "{label}: {orders} orders ({} MB of snapshots), resident {} MB, serving after {ready:.1} s",
            written / 1_000_000,
            rss / 1_000_000
        );
        resident.push((rss, ready));
        drop(service);
    }
    testkit::harness::clean::remove_topics(
        bootstrap,
        &prefixes.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await?;
    let (snapshot_bytes_live, snapshot_bytes_live_format_1) = live.snapshot_bytes();
    let per_order = |rss: u64| rss.saturating_sub(resident[0].0) as f64 / args.orders.max(1) as f64;
    Ok(Figures {
        orders: args.orders,
        live_bytes_per_order: per_order(resident[1].0),
        final_bytes_per_order: per_order(resident[2].0),
        snapshot_bytes_live,
        snapshot_bytes_live_format_1,
        takeover_seconds_live: resident[1].1,
    })
}

fn resident_bytes(service: &Service) -> anyhow::Result<u64> {
    resident_of(service.child.id())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{}/status", service.child.id()))
}

/// A process's resident set in bytes, from `/proc`; `None` when it is not readable.
pub(crate) fn resident_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
