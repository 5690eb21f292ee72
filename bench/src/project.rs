//! Projection speed: a projection catching up on a log of N events, against a fresh
//! database, and the ceiling beside it: COPY of the same rows into empty tables.

use std::time::{Duration, Instant};

use projectors::projections::Projection;
use projectors::worker::{PoisonPolicy, Worker, WorkerSettings};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub(crate) struct Project {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    #[command(flatten)]
    postgres: testkit::harness::stack::Postgres,
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Which projection to time.
    #[arg(long, value_enum, default_value = "orders")]
    projection: Projection,
    #[arg(long, default_value_t = 5000)]
    batch_max: usize,
    /// How long a batch waits for more events once it has one, in ms.
    #[arg(long, default_value_t = 20)]
    linger_ms: u64,
}

impl Project {
    /// The orders projection over `events` events, as `bench all` takes it.
    pub(crate) fn orders(
        kafka: testkit::harness::stack::Kafka,
        postgres: testkit::harness::stack::Postgres,
        events: u64,
    ) -> Self {
        Self {
            kafka,
            postgres,
            events,
            projection: Projection::Orders,
            batch_max: 5000,
            linger_ms: 20,
        }
    }
}

pub(crate) async fn run(args: Project) -> anyhow::Result<()> {
    measure(&args).await.map(|_| ())
}

/// Events/s of the projection, and of the COPY ceiling (orders projection only).
pub(crate) async fn measure(args: &Project) -> anyhow::Result<(f64, Option<f64>)> {
    let (prefix, kafka, topics) =
        crate::rebuild::filled_log(&args.kafka.bootstrap, args.events).await?;

    let name = format!("bench_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&args.postgres.url).await?;
    admin
        .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await?;
    let url = format!(
        "{}/{name}",
        args.postgres
            .url
            .rsplit_once('/')
            .map_or("", |(base, _)| base)
    );
    let pool = projectors::db::connect(&url, 8).await?;
    projectors::db::migrate(&pool).await?;

    let settings = WorkerSettings {
        events_topic: topics.events.clone(),
        dead_letter_topic: topics.dead_letter.clone(),
        group_prefix: prefix.clone(),
        batch_max: args.batch_max,
        linger: Duration::from_millis(args.linger_ms),
        on_poison: PoisonPolicy::Halt,
    };
    let started = Instant::now();
    let worker = Worker::spawn(
        args.projection,
        kafka,
        pool.clone(),
        tokio::runtime::Handle::current(),
        settings,
    )?;
    loop {
        let done: Option<i64> =
            sqlx::query_scalar("SELECT sum(next_offset)::int8 FROM projection_offsets")
                .fetch_one(&pool)
                .await?;
        if done.unwrap_or(0) >= args.events as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::task::spawn_blocking(move || worker.stop()).await??;
    println!(
        "projection {}: {} events in {elapsed:.2} s = {:.0} events/s (batch max {})",
        args.projection.name(),
        args.events,
        args.events as f64 / elapsed,
        args.batch_max
    );
    let ceiling = match args.projection == Projection::Orders {
        true => Some(copy_ceiling(&url, args.events).await?),
        false => None,
    };
    pool.close().await;
    testkit::harness::clean::remove_topics(&args.kafka.bootstrap, &[&prefix]).await?;
    testkit::harness::clean::remove_databases(&args.postgres.url, &[&name]).await?;
    Ok((args.events as f64 / elapsed, ceiling))
}

/// COPY the rows the orders projection produced into empty tables of the same shape.
async fn copy_ceiling(url: &str, events: u64) -> anyhow::Result<f64> {
    let mut conn = PgConnection::connect(url).await?;
    let mut total = Duration::ZERO;
    for table in ["orders", "order_lines"] {
        let mut data = Vec::new();
        let mut out = conn
            .copy_out_raw(&format!("COPY {table} TO STDOUT"))
            .await?;
        while let Some(chunk) = futures::StreamExt::next(&mut out).await {
            data.extend_from_slice(&chunk?);
        }
        drop(out);
        conn.execute(AssertSqlSafe(format!(
            "CREATE TABLE {table}_copy (LIKE {table} INCLUDING ALL)"
        )))
        .await?;
        let started = Instant::now();
        let mut sink = conn
            .copy_in_raw(&format!("COPY {table}_copy FROM STDIN"))
            .await?;
        sink.send(data).await?;
        sink.finish().await?;
        total += started.elapsed();
    }
    println!(
        "COPY ceiling: the same orders and order_lines rows in {:.2} s = {:.0} events/s equivalent",
        total.as_secs_f64(),
        events as f64 / total.as_secs_f64()
    );
    Ok(events as f64 / total.as_secs_f64())
}
