//! GraphQL read load against a running query-api, and beside it the ceiling: the same SQL
//! the service runs, sent straight to PostgreSQL over a pool of the same size.
//!
//! Two shapes: `order` (one order with its lines, one statement) and
//! `page` (the first 20 placed orders, newest first: one keyset query). Files: `runner`
//! (one request, one write), `loops` (closed and open loops, the warm-up, the writes),
//! `cache_counts` (query-api's cache counters over a run).

mod cache_counts;
mod loops;
mod runner;

use crate::stats::Summary;
pub(crate) use cache_counts::CacheCounts;
use loops::{closed_loop, open_loop, warm, writes};
use runner::runner;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Shape {
    /// `order(id)` with its lines.
    Order,
    /// A first page of `orders` filtered by status.
    Page,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Target {
    /// POST /graphql on query-api.
    Graphql,
    /// The same SQL straight to PostgreSQL (the ceiling).
    Sql,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Query {
    #[arg(long, value_enum, default_value = "order")]
    shape: Shape,
    #[arg(long, value_enum, default_value = "graphql")]
    target: Target,
    /// Base URL of query-api.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    url: String,
    #[command(flatten)]
    token: testkit::harness::auth::TokenArgs,
    #[command(flatten)]
    postgres: testkit::harness::stack::Postgres,
    /// Concurrent clients (closed loop), and the SQL pool's size for `--target sql`.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// A fixed rate instead (open loop), in requests/s, for latency at a known load.
    #[arg(long)]
    rate: Option<u64>,
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Orders read (with lines, at random from the read model).
    #[arg(long, default_value_t = 10_000)]
    orders: i64,
    /// The share of reads that go to the hot fifth of the orders (0.8: the 80/20 mix);
    /// unset, every order is read as often.
    #[arg(long)]
    hot_share: Option<f64>,
    /// Commands per second changing orders of the hot fifth meanwhile (a new shipping
    /// address, through command-api); reads of `order(id)` then count stale answers.
    #[arg(long, default_value_t = 0)]
    writes: u64,
    /// Base URL of command-api, for `--writes`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    command_url: String,
}

impl Query {
    /// A closed-loop run of `shape` against `target`, as `bench all` takes it.
    pub(crate) fn closed(
        shape: Shape,
        target: Target,
        url: &str,
        token: testkit::harness::auth::TokenArgs,
        postgres: testkit::harness::stack::Postgres,
        clients: usize,
        seconds: u64,
    ) -> Self {
        Self {
            shape,
            target,
            url: url.to_owned(),
            token,
            postgres,
            clients,
            rate: None,
            seconds,
            orders: 10_000,
            hot_share: None,
            writes: 0,
            command_url: String::new(),
        }
    }

    /// The same run over `orders` orders, `hot_share` of the reads to their first fifth,
    /// and `writes` commands/s to that fifth through the command-api at `command_url`.
    pub(crate) fn hot_mix(
        mut self,
        orders: i64,
        hot_share: f64,
        writes: u64,
        command_url: &str,
    ) -> Self {
        self.orders = orders;
        self.hot_share = Some(hot_share);
        self.writes = writes;
        self.command_url = command_url.to_owned();
        self
    }
}

/// Requests/s of a closed-loop run (`rate` unset), and its latency.
pub(crate) async fn requests_per_second(args: &Query) -> anyhow::Result<(f64, Summary)> {
    let measured = measure(args, false).await?;
    Ok((measured.per_second, measured.summary))
}

/// What a closed-loop run measured.
pub(crate) struct Measured {
    pub(crate) per_second: f64,
    pub(crate) summary: Summary,
    /// Reads older than a version the same client had read before.
    pub(crate) stale: usize,
    /// Commands sent meanwhile (`--writes`): accepted, refused.
    pub(crate) writes: (usize, usize),
    /// query-api's cache counters over the run (GraphQL only).
    pub(crate) cache: Option<CacheCounts>,
}

/// A closed-loop run with `--writes` meanwhile, after reading every order once when
/// `warm_all` (else 200 requests).
pub(crate) async fn measure(args: &Query, warm_all: bool) -> anyhow::Result<Measured> {
    let runner = runner(args).await?;
    if warm_all {
        warm(&runner, args.clients).await?;
    }
    for n in 0..200 {
        runner.one(n).await?;
    }
    let metrics = reqwest::Client::builder()
        .default_headers(args.token.headers()?)
        .build()?;
    let graphql = args.target == Target::Graphql;
    let before = if graphql {
        Some(CacheCounts::scrape(&metrics, &args.url).await)
    } else {
        None
    };
    let writer = writes(&runner, args)?;
    let run = closed_loop(&runner, args.clients, args.seconds).await?;
    anyhow::ensure!(run.failed == 0, "{} requests failed", run.failed);
    let writes = match writer {
        Some(writer) => writer.await?,
        None => (0, 0),
    };
    let cache = match before {
        Some(before) => Some(before.until(&CacheCounts::scrape(&metrics, &args.url).await)),
        None => None,
    };
    Ok(Measured {
        per_second: run.done as f64 / run.elapsed,
        summary: run.summary,
        stale: run.stale,
        writes,
        cache,
    })
}

pub(crate) async fn run(args: Query) -> anyhow::Result<()> {
    let label = format!("{:?} via {:?}", args.shape, args.target).to_lowercase();
    let Some(rate) = args.rate else {
        let measured = measure(&args, false).await?;
        println!(
            "{label}: {:.0} requests/s with {} clients ({} stale); latency {}",
            measured.per_second, args.clients, measured.stale, measured.summary
        );
        if args.writes > 0 {
            let (accepted, refused) = measured.writes;
            println!("writes: {accepted} commands accepted, {refused} refused");
        }
        if let Some(cache) = measured.cache {
            println!("{cache}");
        }
        return Ok(());
    };
    let runner = runner(&args).await?;
    for n in 0..200 {
        runner.one(n).await?;
    }
    let (failed, summary) = open_loop(&runner, rate, args.seconds).await?;
    println!(
        "{label} at a fixed {rate} requests/s for {} s ({failed} failed): {summary}",
        args.seconds
    );
    Ok(())
}
