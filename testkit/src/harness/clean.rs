//! Removing what benchmarks (and, on request, tests) leave behind: their topics on the
//! broker and their databases on the PostgreSQL server. A million-event benchmark leaves
//! hundreds of megabytes that the broker's log cleaner keeps compacting in the
//! background, which then skews the next benchmark.

use std::time::Duration;

use event_store::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};

#[derive(Debug, clap::Args)]
pub struct Clean {
    #[command(flatten)]
    kafka: super::stack::Kafka,
    #[command(flatten)]
    postgres: super::stack::Postgres,
    /// Also remove the topics (`test-*`) and databases (`test_*`) integration tests made.
    /// Only when no test is running.
    #[arg(long)]
    tests: bool,
}

pub async fn run(args: Clean) -> anyhow::Result<()> {
    let mut prefixes = vec!["bench-"];
    if args.tests {
        prefixes.push("test-");
    }
    let topics = remove_topics(&args.kafka.bootstrap, &prefixes).await?;
    let databases = remove_databases(&args.postgres.url, &prefixes).await?;
    println!("removed {topics} topics and {databases} databases");
    Ok(())
}

/// Deletes the topics whose names start with one of `prefixes`.
pub async fn remove_topics(bootstrap: &str, prefixes: &[&str]) -> anyhow::Result<usize> {
    let kafka = KafkaConfig::new(bootstrap, "");
    let names = {
        let kafka = kafka.clone();
        let prefixes: Vec<String> = prefixes.iter().map(|p| (*p).to_owned()).collect();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
            let consumer: BaseConsumer = kafka.client().create()?;
            let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
            Ok(metadata
                .topics()
                .iter()
                .map(|t| t.name().to_owned())
                .filter(|name| prefixes.iter().any(|p| name.starts_with(p.as_str())))
                .collect())
        })
        .await??
    };
    if names.is_empty() {
        return Ok(0);
    }
    let admin: AdminClient<DefaultClientContext> = kafka.client().create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut removed = 0;
    for chunk in names.chunks(100) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for result in admin.delete_topics(&refs, &options).await? {
            match result {
                Ok(_) => removed += 1,
                Err((topic, error)) => eprintln!("clean: could not delete {topic}: {error}"),
            }
        }
    }
    Ok(removed)
}

/// Drops the databases whose names start with one of `prefixes` (`-` read as `_`).
pub async fn remove_databases(server: &str, prefixes: &[&str]) -> anyhow::Result<usize> {
    let mut admin = PgConnection::connect(server).await?;
    let mut removed = 0;
    for prefix in prefixes {
        let pattern = format!("{}%", prefix.replace('-', "\\_"));
        let names: Vec<String> =
            sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE $1")
                .bind(&pattern)
                .fetch_all(&mut admin)
                .await?
                .iter()
                .map(|row| row.get(0))
                .collect();
        for name in names {
            // The names come from pg_database and match the pattern; quoted as identifiers.
            let drop = format!(
                r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
                name.replace('"', "\"\"")
            );
            admin.execute(AssertSqlSafe(drop)).await?;
            removed += 1;
        }
    }
    Ok(removed)
}
