//! `suites chaos`: the fault suite, in the style of Kafka's system tests and Jepsen. A
//! workload records every answer, a nemesis injects one fault after another into a running
//! platform (services as separate processes on the 3-broker cluster of
//! `compose/local/cluster.sh`, PostgreSQL), and a checker holds the log and the read models
//! to the platform's promises once the faults have healed. Reusable against any deployment
//! of the same shape: bootstrap servers, database and binaries are flags.
//!
//! Layout: `services` (the processes), `workload` (the clients), `deadlines` (clients of
//! orders with a short payment window, and their checks), `nemesis` (the faults), `check`
//! (the invariants), `dead_letters` (one letter per poison command), `report`
//! (docs/reliability.md).

pub(crate) mod check;
mod dead_letters;
mod deadlines;
mod nemesis;
mod report;
pub(crate) mod services;
pub(crate) mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use nemesis::{Fault, Nemesis};
use services::Service;

#[derive(Debug, clap::Args)]
pub(crate) struct Chaos {
    /// The cluster's bootstrap servers (`compose/local/cluster.sh up` starts it).
    #[arg(
        long,
        env = "ORDERLOG_CHAOS_BOOTSTRAP",
        default_value = "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    )]
    bootstrap: String,
    #[command(flatten)]
    platform: services::PlatformArgs,
    /// Where `cluster.sh` and `postgres.sh` are.
    #[arg(long, default_value = "compose/local")]
    scripts: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Concurrent clients placing orders with a 60 s payment window (paid just before it
    /// closes, just after, or never).
    #[arg(long, default_value_t = 2)]
    deadline_clients: usize,
    /// The short run for CI: fewer faults.
    #[arg(long)]
    short: bool,
    /// Only these faults, in this order (instead of the full or short list).
    #[arg(long, value_enum, value_delimiter = ',')]
    faults: Vec<Fault>,
    /// Write the run's report here (markdown).
    #[arg(long)]
    report: Option<PathBuf>,
    /// First of six consecutive ports for the services.
    #[arg(long, default_value_t = 18_300)]
    first_port: u16,
    /// Where the services write their logs.
    #[arg(long, default_value = ".local/logs")]
    log_dir: PathBuf,
}

const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

fn faults(short: bool) -> Vec<Fault> {
    if short {
        return vec![
            Fault::KillProcessor,
            Fault::KillBroker,
            Fault::PostgresFast,
            Fault::Poison,
        ];
    }
    vec![
        Fault::KillProcessor,
        Fault::KillHttp,
        Fault::KillProjector,
        Fault::KillQueryApi,
        Fault::PauseProcessor,
        Fault::KillBroker,
        Fault::KillController,
        Fault::RollingRestart,
        Fault::PostgresFast,
        Fault::PostgresImmediate,
        Fault::Poison,
        Fault::RebuildProjection,
        Fault::RevokeDuringTakeover,
        // Again once the short-window orders come due every second: their deadlines across
        // a plain takeover (the first kill comes before any is due).
        Fault::KillProcessor,
    ]
}

/// A fresh database named `<label>_<uuid>` on `server`; its URL.
pub(crate) async fn fresh_database(server: &str, label: &str) -> anyhow::Result<String> {
    let name = format!("{label}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(server).await?;
    admin
        .execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await?;
    let (base, _) = server
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("{server} has no database path"))?;
    Ok(format!("{base}/{name}"))
}

fn platform(
    args: &Chaos,
    bin: &std::path::Path,
    prefix: &str,
    database_url: &str,
    auth: &testkit::harness::auth::OwnAuth,
) -> Vec<Service> {
    let common = |extra: &[(&str, String)]| -> Vec<(String, String)> {
        let mut env = vec![
            (
                "ORDERLOG_KAFKA_BOOTSTRAP".to_owned(),
                args.bootstrap.clone(),
            ),
            ("ORDERLOG_TOPIC_PREFIX".to_owned(), prefix.to_owned()),
            ("ORDERLOG_TOPIC_REPLICATION".to_owned(), "3".to_owned()),
            ("ORDERLOG_TOPIC_PARTITIONS".to_owned(), "6".to_owned()),
            (
                "ORDERLOG_PROCESSOR_SESSION_TIMEOUT_MS".to_owned(),
                SESSION_TIMEOUT.as_millis().to_string(),
            ),
            ("ORDERLOG_LOG_FORMAT".to_owned(), "json".to_owned()),
        ];
        env.extend(auth.env());
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    };
    let port = |n: u16| args.first_port + n;
    let listen = |n: u16| format!("127.0.0.1:{}", port(n));
    let command_api = bin.join("command-api");
    let projectors = bin.join("projectors");
    let logs = args.log_dir.as_path();
    vec![
        Service::new(
            "processor-a",
            command_api.clone(),
            &[],
            common(&[
                ("ORDERLOG_ROLE", "all".into()),
                ("ORDERLOG_COMMAND_API_LISTEN", listen(0)),
            ]),
            port(0),
            logs,
        ),
        Service::new(
            "processor-b",
            command_api.clone(),
            &[],
            common(&[
                ("ORDERLOG_ROLE", "all".into()),
                ("ORDERLOG_COMMAND_API_LISTEN", listen(1)),
            ]),
            port(1),
            logs,
        ),
        Service::new(
            "http",
            command_api,
            &[],
            common(&[
                ("ORDERLOG_ROLE", "http".into()),
                ("ORDERLOG_COMMAND_API_LISTEN", listen(2)),
            ]),
            port(2),
            logs,
        ),
        Service::new(
            "projectors-a",
            projectors.clone(),
            &[],
            common(&[
                ("ORDERLOG_PROJECTORS_LISTEN", listen(3)),
                ("ORDERLOG_DATABASE_URL", database_url.to_owned()),
            ]),
            port(3),
            logs,
        ),
        Service::new(
            "projectors-b",
            projectors,
            &[],
            common(&[
                ("ORDERLOG_PROJECTORS_LISTEN", listen(4)),
                ("ORDERLOG_DATABASE_URL", database_url.to_owned()),
            ]),
            port(4),
            logs,
        ),
        Service::new(
            "query-api",
            bin.join("query-api"),
            &[],
            common(&[
                ("ORDERLOG_QUERY_LISTEN", listen(5)),
                ("ORDERLOG_QUERY_DATABASE_URL", database_url.to_owned()),
            ]),
            port(5),
            logs,
        ),
    ]
}

pub(crate) async fn run(args: Chaos) -> anyhow::Result<()> {
    let bin = services::binaries(args.platform.bin_dir.as_deref())?;
    std::fs::create_dir_all(&args.log_dir)?;
    let prefix = format!("chaos-{}.", uuid::Uuid::new_v4().simple());
    let database_url = fresh_database(&args.platform.database_url, "chaos").await?;
    let auth = testkit::harness::auth::OwnAuth::generate();
    let http = reqwest::Client::builder()
        .default_headers(auth.headers()?)
        .pool_max_idle_per_host(0)
        .build()?;
    let started = Instant::now();

    let mut services = platform(&args, &bin, &prefix, &database_url, &auth);
    // Processors first: they create the topics.
    services[0].start()?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for service in services.iter_mut().skip(1) {
        service.start()?;
    }
    let first_ready = services::wait_ready(&http, &mut services, Duration::from_secs(240)).await?;
    println!(
        "chaos: platform ready after {:.1} s (topics {prefix}*)",
        first_ready.as_secs_f64()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(workload::Progress::default());
    // Every command-api serves HTTP: the HTTP-only one sends every command through the
    // commands topic; each processor hands those of its own partitions to them directly.
    let bases: Vec<String> = [nemesis::HTTP, nemesis::PROCESSOR_A, nemesis::PROCESSOR_B]
        .iter()
        .map(|&n| services[n].url())
        .collect();
    let crew = workload::Crew {
        http: http.clone(),
        bases,
        stop: stop.clone(),
        drain: Duration::from_secs(180),
        progress: progress.clone(),
    };
    let clients: Vec<_> = (0..args.clients)
        .map(|id| tokio::spawn(workload::client(crew.clone(), id)))
        .collect();
    let watch = {
        let (bootstrap, topic) = (
            args.bootstrap.clone(),
            event_store::TopicSet::new(&prefix).events,
        );
        tokio::task::spawn_blocking(move || deadlines::watch::Watch::start(&bootstrap, &topic))
            .await??
    };
    let deadline_clients: Vec<_> = (0..args.deadline_clients)
        .map(|id| tokio::spawn(deadlines::client(crew.clone(), id)))
        .collect();
    tokio::time::sleep(Duration::from_secs(10)).await;

    let nemesis = Nemesis {
        http: &http,
        scripts: &args.scripts,
        bootstrap: &args.bootstrap,
        prefix: &prefix,
        projectors_binary: &bin.join("projectors"),
        database_url: &database_url,
        session_timeout: SESSION_TIMEOUT,
    };
    let mut injected = Vec::new();
    let mut spans = Vec::new();
    let chosen = if args.faults.is_empty() {
        faults(args.short)
    } else {
        args.faults.clone()
    };
    for fault in chosen {
        let at = started.elapsed();
        let start = chrono::Utc::now();
        let before = progress.acknowledged.load(Ordering::Relaxed);
        println!("chaos: {}", fault.describe());
        let healed = nemesis.inject(fault, &mut services).await;
        let (healed, recovery) =
            healed.map_err(|e| anyhow::anyhow!("{}: {e}", fault.describe()))?;
        // Recovered means answering again: a command acknowledged after the healing.
        let acknowledged_at_heal = progress.acknowledged.load(Ordering::Relaxed);
        let deadline = healed + Duration::from_secs(180);
        while progress.acknowledged.load(Ordering::Relaxed) == acknowledged_at_heal {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{}: no command acknowledged within 180 s of healing",
                fault.describe()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let flowing = healed.elapsed();
        spans.push(deadlines::check::Span {
            start,
            end: chrono::Utc::now(),
        });
        println!(
            "chaos:   every service ready {:.1} s and commands acknowledged again {:.1} s after healing",
            recovery.as_secs_f64(),
            flowing.as_secs_f64()
        );
        injected.push(report::Injected {
            fault,
            at,
            recovery,
            flowing,
            acknowledged_before: before,
            longest_wait: chrono::TimeDelta::zero(),
            expiries: (0, chrono::TimeDelta::zero()),
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let stopped_at = chrono::Utc::now();
    let mut record = workload::Record::default();
    for client in clients {
        record.absorb(client.await?);
    }
    let mut deadline_record = deadlines::DeadlineRecord::default();
    for client in deadline_clients {
        deadline_record.absorb(client.await?);
    }
    record.absorb(std::mem::take(&mut deadline_record.record));
    for (injected, span) in injected.iter_mut().zip(&spans) {
        injected.longest_wait = deadlines::check::longest_wait(*span, &record.waits);
    }
    println!(
        "chaos: {} commands acknowledged; checking",
        record.commands_acknowledged
    );

    let final_ready = services::wait_ready(&http, &mut services, Duration::from_secs(180)).await;
    let mut outcomes = vec![check::Outcome {
        name: "every service ready again with no manual action",
        passed: final_ready.is_ok(),
        detail: match &final_ready {
            Ok(after) => format!("{:.1} s after the last client stopped", after.as_secs_f64()),
            Err(error) => error.to_string(),
        },
    }];
    outcomes.push(check::Outcome {
        name: "every 503 resolved by a retry with the same key",
        passed: record.unresolved == 0,
        detail: format!(
            "{} retries, {} unresolved",
            record.retried, record.unresolved
        ),
    });
    outcomes.push(check::Outcome {
        name: "duplicate submissions got the first answer",
        passed: record.duplicate_mismatches.is_empty(),
        detail: format!(
            "{} sent; mismatches: {:?}",
            record.duplicates_sent, record.duplicate_mismatches
        ),
    });
    outcomes.push(
        check::acknowledged_once(&args.bootstrap, &prefix, &record.acknowledged_events).await?,
    );
    let lettered = {
        let (bootstrap, prefix) = (args.bootstrap.clone(), prefix.clone());
        tokio::task::spawn_blocking(move || {
            dead_letters::poison_dead_lettered_once(&bootstrap, &prefix)
        })
        .await?
    };
    outcomes.push(lettered);
    let verified = {
        let (cli, bootstrap, prefix, url) = (
            bin.join("orderlog"),
            args.bootstrap.clone(),
            prefix.clone(),
            database_url.clone(),
        );
        tokio::task::spawn_blocking(move || check::verify(&cli, &bootstrap, &prefix, &url)).await?
    };
    outcomes.push(verified);
    let (deadline_outcomes, expiries) = deadlines::checks(
        &args.bootstrap,
        &prefix,
        &deadline_record,
        watch,
        stopped_at,
        (&spans, &record.waits),
        args.short,
    )
    .await?;
    outcomes.extend(deadline_outcomes);
    for (injected, span) in injected.iter_mut().zip(&spans) {
        injected.expiries =
            deadlines::check::fault_lateness(*span, injected.longest_wait, &expiries);
    }

    let summary = report::Summary {
        short: args.short,
        duration: started.elapsed(),
        clients: args.clients,
        record: &record,
        injected: &injected,
        outcomes: &outcomes,
        first_ready,
    };
    let text = summary.render();
    println!("{text}");
    if let Some(path) = &args.report {
        report::write(path, &text)?;
        println!("chaos: report written to {}", path.display());
    }
    for service in services.iter_mut() {
        service.terminate(Duration::from_secs(20));
    }
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name)
        .collect();
    anyhow::ensure!(
        failed.is_empty(),
        "chaos: checks failed: {failed:?} (topics {prefix}* and database {database_url} kept for inspection; service logs in {})",
        args.log_dir.display()
    );
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
    println!(
        "chaos: every check passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
