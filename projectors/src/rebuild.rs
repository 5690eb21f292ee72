//! Rebuilding a projection without downtime: replay the log from offset zero into new
//! tables in a schema of their own while the current tables keep serving, then switch in
//! one transaction and drop the old tables.
//!
//! The switch locks the live offsets rows (the live worker's next commit waits), moves the
//! live tables out of `public` and the rebuilt ones in, and sets the live offsets to the
//! rebuilt ones. If the live worker had got further, it sees its stored offsets went back
//! and re-reads from them onto the new tables (see `worker`), so nothing is lost.

use std::str::FromStr;
use std::time::{Duration, Instant};

use event_store::{KafkaConfig, TopicSet};
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};

use crate::config::Config;
use crate::db;
use crate::projections::Projection;
use crate::worker::{Worker, WorkerSettings};

/// How far a rebuild is.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
    pub rate: f64,
    pub eta: Option<Duration>,
}

fn tables(projection: Projection) -> &'static [&'static str] {
    match projection {
        Projection::Orders => &["orders", "order_lines"],
        Projection::Timeline => &["order_timeline"],
        Projection::Sales => &[
            "sales_orders",
            "sales_order_lines",
            "customer_stats",
            "daily_sales",
            "product_sales",
        ],
    }
}

/// Rebuilds `projection` and switches to the result. Returns how many events it replayed.
pub async fn run(
    config: &Config,
    projection: Projection,
    progress: impl Fn(Progress),
) -> anyhow::Result<i64> {
    let live = db::connect(config.database_url.expose(), 4).await?;
    db::migrate(&live).await?;
    let id = uuid::Uuid::now_v7().simple().to_string();
    let schema = format!("rebuild_{}_{}", projection.name(), &id[id.len() - 12..]);
    create_schema(&live, &schema, projection).await?;
    let options = PgConnectOptions::from_str(config.database_url.expose())?
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;

    let kafka = KafkaConfig::new(&config.kafka_bootstrap, &config.topic_prefix)
        .secured(config.kafka_security.clone());
    let topics = TopicSet::new(&config.topic_prefix);
    let settings = WorkerSettings {
        events_topic: topics.events.clone(),
        dead_letter_topic: topics.dead_letter.clone(),
        group_prefix: format!("{}rebuild-{id}-", config.topic_prefix),
        batch_max: config.batch_max,
        linger: Duration::from_millis(config.linger_ms),
        on_poison: config.on_poison,
    };
    let worker = Worker::spawn(
        projection,
        kafka.clone(),
        pool.clone(),
        tokio::runtime::Handle::current(),
        settings,
    )?;
    let started = Instant::now();
    // The log's end when the rebuild starts is the target: under traffic the end keeps
    // moving, and the live worker re-reads whatever follows the switched-in offsets.
    let targets = log_ends(&kafka, &topics.events).await?;
    let total: i64 = targets.values().sum();
    let done = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Where the worker stands, not only its next event: on a log written in
        // transactions, every commit marker takes an offset no event has, and an idle
        // worker records its position past them.
        let reached: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT partition, greatest(next_offset, coalesce(consumer_position, 0)) FROM projection_offsets",
        )
        .fetch_all(&pool)
        .await?;
        let reached: std::collections::HashMap<i32, i64> = reached.into_iter().collect();
        let done: i64 = targets
            .iter()
            .map(|(p, target)| reached.get(p).copied().unwrap_or(0).min(*target))
            .sum();
        #[allow(clippy::float_arithmetic)] // a display rate
        let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
        #[allow(clippy::float_arithmetic)]
        let eta =
            (rate > 0.0).then(|| Duration::from_secs_f64((total - done).max(0) as f64 / rate));
        progress(Progress {
            done,
            total,
            rate,
            eta,
        });
        if worker.status.failed() {
            anyhow::bail!(
                "the rebuild worker failed; the live tables are untouched (schema {schema} kept for inspection)"
            );
        }
        if done >= total {
            break done;
        }
    };
    tokio::task::spawn_blocking(move || worker.stop()).await??;
    pool.close().await;
    switch(&live, &schema, projection, &topics.events).await?;
    Ok(done)
}

async fn create_schema(
    live: &PgPool,
    schema: &str,
    projection: Projection,
) -> Result<(), sqlx::Error> {
    let mut tx = live.begin().await?;
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut *tx)
        .await?;
    for table in tables(projection).iter().chain(&["projection_offsets"]) {
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// The end of every partition of the events topic.
async fn log_ends(
    kafka: &KafkaConfig,
    topic: &str,
) -> anyhow::Result<std::collections::HashMap<i32, i64>> {
    let (kafka, topic) = (kafka.clone(), topic.to_owned());
    tokio::task::spawn_blocking(
        move || -> anyhow::Result<std::collections::HashMap<i32, i64>> {
            let consumer: BaseConsumer = kafka.client().create()?;
            let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
            let partitions = metadata
                .topics()
                .first()
                .map(|t| t.partitions().len() as i32)
                .unwrap_or(0);
            let mut ends = std::collections::HashMap::new();
            for partition in 0..partitions {
                let (_, high) =
                    event_store::watermarks(&consumer, &topic, partition, Duration::from_secs(10))?;
                ends.insert(partition, high);
            }
            Ok(ends)
        },
    )
    .await?
}

async fn switch(
    live: &PgPool,
    schema: &str,
    projection: Projection,
    topic: &str,
) -> Result<(), sqlx::Error> {
    let retired = format!("{schema}_retired");
    let mut tx = live.begin().await?;
    // The live worker's next batch waits here until the switch is committed.
    sqlx::query(
        "SELECT 1 FROM public.projection_offsets WHERE projection = $1 AND topic = $2 FOR UPDATE",
    )
    .bind(projection.name())
    .bind(topic)
    .execute(&mut *tx)
    .await?;
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {retired}")))
        .execute(&mut *tx)
        .await?;
    for table in tables(projection) {
        sqlx::query(AssertSqlSafe(format!(
            "ALTER TABLE public.{table} SET SCHEMA {retired}"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(AssertSqlSafe(format!(
            "ALTER TABLE {schema}.{table} SET SCHEMA public"
        )))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM public.projection_offsets WHERE projection = $1 AND topic = $2")
        .bind(projection.name())
        .bind(topic)
        .execute(&mut *tx)
        .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO public.projection_offsets SELECT * FROM {schema}.projection_offsets WHERE projection = $1 AND topic = $2"
    )))
    .bind(projection.name())
    .bind(topic)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {retired} CASCADE")))
        .execute(live)
        .await?;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(live)
        .await?;
    tracing::info!(
        projection = projection.name(),
        "rebuilt tables switched in; old tables dropped"
    );
    Ok(())
}
