//! The read cache under the mix issue 32 names: `order(id)` with its lines over 100,000
//! orders, 80% of the reads to a fifth of them, 300 commands/s changing orders of that
//! fifth meanwhile. Each run starts a query-api of its own beside the platform's (its
//! cache large enough for every order, below the hot set, or off), reads every order once,
//! then measures GraphQL and the same SQL back to back under the same writes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::query_load::{Measured, Query, Shape, Target, measure};

/// Orders read, the hot share and the commands/s of the mix.
pub(crate) const ORDERS: i64 = 100_000;
pub(crate) const HOT_SHARE: f64 = 0.8;
pub(crate) const WRITES: u64 = 300;

/// The caches measured: every order's answer fits; below the hot set; off.
pub(crate) const CACHES: [(&str, u64); 3] = [
    ("cache holding every order", 1 << 30),
    ("cache below the hot set", 8 << 20),
    ("cache off", 0),
];

/// A query-api process of the benchmark's, killed when dropped.
struct QueryApi {
    child: Child,
    url: String,
}

impl Drop for QueryApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct CachedReads {
    /// Base URL of command-api (the writes).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[command(flatten)]
    token: testkit::harness::auth::TokenArgs,
    #[command(flatten)]
    postgres: testkit::harness::stack::Postgres,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
}

/// `bench cached-reads`: the runs, printed.
pub(crate) async fn standalone(args: CachedReads) -> anyhow::Result<()> {
    let platform = Platform {
        command_url: &args.url,
        token: &args.token,
        postgres: &args.postgres,
        seconds: args.seconds,
    };
    seed(&platform).await?;
    for run in run(&platform).await? {
        println!(
            "{}: {:.2}x the SQL; query-api resident {}",
            run.name,
            run.graphql.per_second / run.sql.per_second.max(1e-9),
            run.rss_mb
                .map_or("unknown".to_owned(), |mb| format!("{mb:.0} MB"))
        );
    }
    Ok(())
}

/// Where the platform is, for the runs.
pub(crate) struct Platform<'a> {
    pub(crate) command_url: &'a str,
    pub(crate) token: &'a testkit::harness::auth::TokenArgs,
    pub(crate) postgres: &'a testkit::harness::stack::Postgres,
    pub(crate) seconds: u64,
}

/// One cache's run: GraphQL and SQL, and query-api's resident memory after it.
pub(crate) struct CacheRun {
    pub(crate) name: &'static str,
    pub(crate) bytes: u64,
    pub(crate) graphql: Measured,
    pub(crate) sql: Measured,
    pub(crate) rss_mb: Option<f64>,
}

/// Runs the mix with each of [`CACHES`].
pub(crate) async fn run(platform: &Platform<'_>) -> anyhow::Result<Vec<CacheRun>> {
    let binary = std::env::current_exe()?.with_file_name("query-api");
    anyhow::ensure!(
        binary.exists(),
        "{} not found: build it with `cargo build --release -p query-api`",
        binary.display()
    );
    let mut runs = Vec::new();
    for (port, (name, bytes)) in (18_190_u16..).zip(CACHES) {
        println!("bench: order(id), 80/20 over {ORDERS} orders, {WRITES} commands/s: {name}");
        let service = start(&binary, platform, port, bytes).await?;
        let query = |target| {
            Query::closed(
                Shape::Order,
                target,
                &service.url,
                platform.token.clone(),
                platform.postgres.clone(),
                32,
                platform.seconds,
            )
            .hot_mix(ORDERS, HOT_SHARE, WRITES, platform.command_url)
        };
        let graphql = measure(&query(Target::Graphql), true).await?;
        let rss_mb = crate::memory::resident_of(service.child.id()).map(|b| b as f64 / 1e6);
        let sql = measure(&query(Target::Sql), false).await?;
        println!(
            "bench:   {:.0} requests/s against the SQL's {:.0} ({} stale); {}",
            graphql.per_second,
            sql.per_second,
            graphql.stale,
            graphql
                .cache
                .as_ref()
                .map_or_else(String::new, ToString::to_string)
        );
        runs.push(CacheRun {
            name,
            bytes,
            graphql,
            sql,
            rss_mb,
        });
    }
    Ok(runs)
}

/// Starts query-api on `port` with a cache of `bytes`, over the platform's read models and
/// its development tokens; ready when `/readyz` says so.
async fn start(
    binary: &Path,
    platform: &Platform<'_>,
    port: u16,
    bytes: u64,
) -> anyhow::Result<QueryApi> {
    let log = PathBuf::from(format!("/tmp/bench-query-api-{port}.log"));
    let child = Command::new(binary)
        .env("ORDERLOG_QUERY_LISTEN", format!("127.0.0.1:{port}"))
        .env("ORDERLOG_QUERY_DATABASE_URL", &platform.postgres.url)
        .env("ORDERLOG_QUERY_CACHE_BYTES", bytes.to_string())
        .env("ORDERLOG_AUTH_DEV", "true")
        .env("ORDERLOG_AUTH_DEV_DIR", platform.token.dev_dir())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err"))?)
        .spawn()?;
    let service = QueryApi {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http
            .get(format!("{}/readyz", service.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return Ok(service);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "query-api on port {port} not ready after 60 s (its log: {})",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Places orders until the read model holds at least [`ORDERS`] with lines.
pub(crate) async fn seed(platform: &Platform<'_>) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(&platform.postgres.url).await?;
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE line_count > 0")
        .fetch_one(&pool)
        .await?;
    let missing = ORDERS - have;
    if missing <= 0 {
        return Ok(());
    }
    println!("bench: placing {missing} orders so that {ORDERS} can be read");
    let http = reqwest::Client::builder()
        .default_headers(platform.token.headers()?)
        .build()?;
    let clients = 64;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url) = (http.clone(), platform.command_url.to_owned());
            let share = usize::try_from(missing).unwrap_or(0).div_ceil(clients);
            tokio::spawn(async move {
                for _ in 0..share {
                    let response = http
                        .post(format!("{url}/v1/orders"))
                        .json(&crate::http_load::place())
                        .send()
                        .await?;
                    anyhow::ensure!(response.status().is_success(), "{}", response.status());
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(())
}
