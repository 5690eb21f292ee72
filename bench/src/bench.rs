//! `bench all` (`make bench`): every benchmark in one run, each beside its floor,
//! ceiling or target, written to a JSON file and as the generated table of
//! docs/performance.md (between its `make bench` markers; the prose around it is written by
//! hand). With the platform up (`make up`): for each rate, the floor (`bench floor`) and
//! then the platform's command latency (`bench latency`), alternating; freshness idle and
//! at each rate beside that rate's command p99; flat-out commands/s; `order(id)` and a
//! filtered page through GraphQL beside the same SQL sent directly, and query-api's
//! resident memory under that load; then on fresh topics of their own: projection against
//! binary COPY, replay against a plain consumer, takeover after SIGKILL, processor memory
//! per live and per final order. Before freshness, flat out, the reads and the fresh-topic
//! benchmarks it waits for the live projectors' lag to reach zero, so that no benchmark
//! runs beside the last one's backlog.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::table::{Row, at_least, ms, render, rewrite, summary_json, verdict};

#[derive(Debug, clap::Args)]
pub(crate) struct Bench {
    /// Base URL of command-api.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Base URL of query-api.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    query_url: String,
    #[command(flatten)]
    token: testkit::harness::auth::TokenArgs,
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// Fixed rates to measure, commands/s.
    #[arg(long, value_delimiter = ',', default_value = "300,1000")]
    rates: Vec<u64>,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    #[command(flatten)]
    postgres: testkit::harness::stack::Postgres,
    /// Events in the logs of the projection, replay and takeover benchmarks.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Orders in each partition of the memory benchmark.
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// query-api's pid file, to read its resident memory under the query load.
    #[arg(long, default_value = ".local/pids/query-api.pid")]
    query_api_pid_file: PathBuf,
    /// Where to write the results.
    #[arg(long, default_value = "docs/bench.json")]
    json: PathBuf,
    /// The document whose generated table to rewrite.
    #[arg(long, default_value = "docs/performance.md")]
    doc: PathBuf,
}

pub(crate) async fn run(args: Bench) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .default_headers(args.token.headers()?)
        .pool_max_idle_per_host(256)
        .build()?;
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut results = serde_json::Map::new();
    let mut command_p99 = std::collections::HashMap::new();
    let mut settled = serde_json::Map::new();
    // One connection for every wait on the projectors.
    let read_models = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.postgres.url)
        .await?;
    for &rate in &args.rates {
        println!("bench: floor at {rate}/s");
        let (floor, missing) = crate::floor::measure(
            &args.kafka.bootstrap,
            crate::floor::Intake::Direct,
            rate,
            args.seconds,
            6,
        )
        .await?;
        println!("bench: command latency at {rate}/s");
        let before = crate::stages::scrape(&http, &args.url).await?;
        let (platform, failed) =
            crate::http_load::measure_latency(&http, &args.url, rate, args.seconds).await?;
        let stages = crate::stages::means(&before, &crate::stages::scrape(&http, &args.url).await?);
        rows.push(Row {
            what: format!("where a command's time goes at {rate}/s, mean ms"),
            figure: crate::stages::describe(&stages),
            against: format!("total mean {:.1} ms", ms(platform.mean)),
            ratio: String::new(),
            target: "(docs/performance.md)".to_owned(),
        });
        println!("bench:   floor {floor}\nbench:   commands {platform}");
        command_p99.insert(rate, platform.p99);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        rows.push(Row {
            what: format!("command p50 at {rate}/s"),
            figure: format!("{:.1} ms", ms(platform.p50)),
            against: format!("floor {:.1} ms", ms(floor.p50)),
            ratio: verdict(ratio(platform.p50, floor.p50), 1.5, true),
            target: "at most 1.5x".to_owned(),
        });
        rows.push(Row {
            what: format!("command p99 at {rate}/s"),
            figure: format!("{:.1} ms", ms(platform.p99)),
            against: format!("floor {:.1} ms", ms(floor.p99)),
            ratio: verdict(ratio(platform.p99, floor.p99), 2.0, true),
            target: "at most 2x".to_owned(),
        });
        results.insert(
            format!("latency_{rate}"),
            json!({ "floor": summary_json(&floor), "floor_missing": missing, "stages_mean_ms": stages,
                    "commands": summary_json(&platform), "commands_failed": failed }),
        );
        // The commands-topic intake (services with a Kafka client) beside its own floor.
        println!("bench: commands-topic intake at {rate}/s");
        let (topic_floor, topic_floor_missing) = crate::floor::measure(
            &args.kafka.bootstrap,
            crate::floor::Intake::Topic,
            rate,
            args.seconds,
            6,
        )
        .await?;
        let (intake, unanswered) =
            crate::topic_load::measure(&args.kafka.bootstrap, "", 6, rate, args.seconds).await?;
        println!("bench:   topic floor {topic_floor}\nbench:   topic intake {intake}");
        for (what, figure, floor, target, limit) in [
            ("p50", intake.p50, topic_floor.p50, "at most 1.5x", 1.5),
            ("p99", intake.p99, topic_floor.p99, "at most 2x", 2.0),
        ] {
            rows.push(Row {
                what: format!("commands-topic intake {what} at {rate}/s"),
                figure: format!("{:.1} ms", ms(figure)),
                against: format!("topic floor {:.1} ms", ms(floor)),
                ratio: verdict(ratio(figure, floor), limit, true),
                target: target.to_owned(),
            });
        }
        results.insert(
            format!("topic_intake_{rate}"),
            json!({ "floor": summary_json(&topic_floor), "floor_missing": topic_floor_missing,
                    "commands": summary_json(&intake), "commands_unanswered": unanswered }),
        );
    }
    for rate in std::iter::once(0).chain(args.rates.iter().copied()) {
        let at = if rate == 0 {
            "idle".to_owned()
        } else {
            format!("{rate}/s")
        };
        settle(&read_models, &format!("freshness_{at}"), &mut settled).await?;
        println!("bench: freshness {at}");
        let (commands, fresh, failed) =
            crate::freshness::measure(&http, &args.url, &args.query_url, rate, args.seconds)
                .await?;
        println!("bench:   answer to GraphQL {fresh}");
        let p99 = command_p99.get(&rate).copied().unwrap_or(commands.p99);
        rows.push(Row {
            what: format!("freshness p99, {at}"),
            figure: format!("{:.1} ms (p50 {:.1} ms)", ms(fresh.p99), ms(fresh.p50)),
            against: format!("command p99 {:.1} ms", ms(p99)),
            ratio: verdict(
                fresh.p99.as_secs_f64() / p99.as_secs_f64().max(1e-9),
                1.0,
                true,
            ),
            target: "at most the command p99".to_owned(),
        });
        results.insert(
            format!("freshness_{at}"),
            json!({ "commands": summary_json(&commands), "freshness": summary_json(&fresh), "failed": failed }),
        );
    }
    settle(&read_models, "flat_out", &mut settled).await?;
    println!("bench: flat out");
    let (flat, latency, failed) =
        crate::http_load::measure_throughput(&http, &args.url, 256, args.seconds).await?;
    rows.push(Row {
        what: "flat out, 256 clients".to_owned(),
        figure: format!("{flat:.0} commands/s"),
        against: "(main before session 11: alternate the old binary by hand)".to_owned(),
        ratio: String::new(),
        target: "at least 1.5x main".to_owned(),
    });
    results.insert(
        "flat_out".to_owned(),
        json!({ "commands_per_second": flat, "latency": summary_json(&latency), "failed": failed }),
    );
    settle(&read_models, "reads", &mut settled).await?;
    reads(&args, &mut rows, &mut results).await?;
    settle(&read_models, "offline", &mut settled).await?;
    offline(&args, &mut rows, &mut results).await?;
    results.insert("settled_s".to_owned(), Value::Object(settled));
    results.insert(
        "ran".to_owned(),
        json!({ "at": chrono::Utc::now().to_rfc3339(), "seconds_each": args.seconds,
                "took_s": started.elapsed().as_secs() }),
    );
    std::fs::write(
        &args.json,
        serde_json::to_vec_pretty(&Value::Object(results))?,
    )?;
    let table = render(&rows, started.elapsed());
    println!("{table}");
    rewrite(&args.doc, &table)?;
    println!(
        "bench: results in {}, table in {}",
        args.json.display(),
        args.doc.display()
    );
    Ok(())
}

/// Waits for the live projectors to apply everything the last benchmark wrote, and notes
/// how long that took before `what` (null: still behind after two minutes).
async fn settle(
    read_models: &sqlx::PgPool,
    what: &str,
    settled: &mut serde_json::Map<String, Value>,
) -> anyhow::Result<()> {
    let took = crate::settle::projectors(read_models, Duration::from_secs(120)).await?;
    match took {
        Some(took) => println!("bench: projectors caught up in {:.1} s", took.as_secs_f64()),
        None => println!("bench: projectors still behind after 120 s; measuring anyway"),
    }
    settled.insert(what.to_owned(), json!(took.map(|t| t.as_secs_f64())));
    Ok(())
}

/// GraphQL against the same SQL: `order(id)` under the hot mix with each cache
/// (`cached_reads.rs`), then a filtered page on the platform's query-api; query-api's
/// memory under that load.
async fn reads(
    args: &Bench,
    rows: &mut Vec<Row>,
    results: &mut serde_json::Map<String, Value>,
) -> anyhow::Result<()> {
    use crate::cached_reads::{self, Platform};
    use crate::query_load::{Query, Shape, Target, requests_per_second};
    let platform = Platform {
        command_url: &args.url,
        token: &args.token,
        postgres: &args.postgres,
        seconds: args.seconds,
    };
    cached_reads::seed(&platform).await?;
    let read_models = sqlx::PgPool::connect(&args.postgres.url).await?;
    let mut settled = serde_json::Map::new();
    settle(&read_models, "seeded", &mut settled).await?;
    let runs = cached_reads::run(&platform).await?;
    let overhead = runs.iter().find(|r| r.bytes == 0).and_then(|r| r.rss_mb);
    for (index, run) in runs.iter().enumerate() {
        let (graphql, sql) = (run.graphql.per_second, run.sql.per_second);
        let kept = run.graphql.cache.as_ref().map_or(0.0, |c| c.answers_kept());
        rows.push(Row {
            what: format!(
                "order(id), 80/20 over {}k orders, {} commands/s to the hot fifth: {}",
                cached_reads::ORDERS / 1000,
                cached_reads::WRITES,
                run.name
            ),
            figure: format!(
                "{graphql:.0} requests/s (p99 {:.1} ms; {:.1}% answers kept; {} stale reads)",
                ms(run.graphql.summary.p99),
                100.0 * kept,
                run.graphql.stale
            ),
            against: format!("the same SQL {sql:.0}/s"),
            ratio: if index == 0 {
                at_least(graphql, sql, 1.5)
            } else {
                format!("{:.2}x", graphql / sql.max(1e-9))
            },
            target: if index == 0 {
                "at least 1.5x"
            } else {
                "(recorded)"
            }
            .to_owned(),
        });
        if let Some(rss) = run.rss_mb {
            rows.push(Row {
                what: format!("query-api resident memory under that load: {}", run.name),
                figure: format!("{rss:.0} MB"),
                against: match (run.bytes, overhead) {
                    (0, _) | (_, None) => String::new(),
                    (bytes, Some(base)) => format!(
                        "bound {:.0} MB + the cache-off process's {base:.0} MB",
                        bytes as f64 / 1e6
                    ),
                },
                ratio: String::new(),
                target: "(recorded)".to_owned(),
            });
        }
        results.insert(
            format!("query_order_{}", run.bytes),
            json!({ "cache": run.name, "cache_bytes": run.bytes,
                    "graphql_per_second": graphql, "sql_per_second": sql,
                    "graphql_latency": summary_json(&run.graphql.summary),
                    "stale_reads": run.graphql.stale, "answers_kept": kept,
                    "writes": [run.graphql.writes.0, run.graphql.writes.1],
                    "query_api_rss_mb": run.rss_mb }),
        );
    }
    let query = |target| {
        Query::closed(
            Shape::Page,
            target,
            &args.query_url,
            args.token.clone(),
            args.postgres.clone(),
            32,
            args.seconds,
        )
    };
    println!("bench: a filtered page of orders through GraphQL, then the same SQL");
    let (graphql, graphql_latency) = requests_per_second(&query(Target::Graphql)).await?;
    let (sql, _) = requests_per_second(&query(Target::Sql)).await?;
    rows.push(Row {
        what: "a filtered page of orders, 32 clients".to_owned(),
        figure: format!(
            "{graphql:.0} requests/s (p99 {:.1} ms)",
            ms(graphql_latency.p99)
        ),
        against: format!("the same SQL {sql:.0}/s"),
        ratio: at_least(graphql, sql, 0.5),
        target: "at least 0.5x".to_owned(),
    });
    results.insert(
        "query_page".to_owned(),
        json!({ "graphql_per_second": graphql, "sql_per_second": sql,
                "graphql_latency": summary_json(&graphql_latency),
                "query_api_rss_mb": resident_mb(&args.query_api_pid_file) }),
    );
    Ok(())
}

fn resident_mb(pid_file: &std::path::Path) -> Option<f64> {
    let pid = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(crate::memory::resident_of(pid)? as f64 / 1e6)
}

/// The benchmarks that fill fresh topics of their own: projection, replay, takeover, memory.
async fn offline(
    args: &Bench,
    rows: &mut Vec<Row>,
    results: &mut serde_json::Map<String, Value>,
) -> anyhow::Result<()> {
    let events = args.events;
    println!("bench: the orders projection over {events} events, then binary COPY of its rows");
    let project =
        crate::project::Project::orders(args.kafka.clone(), args.postgres.clone(), events);
    let (projected, copy) = crate::project::measure(&project).await?;
    let copy = copy.unwrap_or(f64::NAN);
    rows.push(Row {
        what: format!("orders projection, {events} events"),
        figure: format!("{projected:.0} events/s"),
        against: format!("binary COPY of its rows {copy:.0}/s"),
        ratio: at_least(projected, copy, 0.6),
        target: "at least 0.6x".to_owned(),
    });
    results.insert(
        "projection".to_owned(),
        json!({ "events": events, "events_per_second": projected, "copy_events_per_second": copy }),
    );

    println!("bench: replay of {events} events to JSON Lines and Parquet, then a plain consumer");
    let figures =
        crate::replay::measure(&crate::replay::Replay::of(args.kafka.clone(), events)).await?;
    let (replayed, exported, plain) = (figures.replayed, figures.exported, figures.ceiling);
    rows.push(Row {
        what: format!("replay to JSON Lines, {events} events"),
        figure: format!("{replayed:.0} events/s"),
        against: format!("a plain consumer {plain:.0}/s"),
        ratio: verdict(figures.replay_ratio, 0.7, false),
        target: "at least 0.7x".to_owned(),
    });
    rows.push(Row {
        what: format!("export to Parquet, {events} events"),
        figure: format!("{exported:.0} events/s"),
        against: format!("a plain consumer {plain:.0}/s"),
        ratio: verdict(figures.export_ratio, 0.5, false),
        target: "at least 0.5x".to_owned(),
    });
    results.insert(
        "replay".to_owned(),
        json!({ "events": events, "events_per_second": replayed, "plain_events_per_second": plain, "ratio": figures.replay_ratio }),
    );
    results.insert(
        "export".to_owned(),
        json!({ "events": events, "events_per_second": exported, "plain_events_per_second": plain, "ratio": figures.export_ratio }),
    );

    println!("bench: takeover after SIGKILL, {events} events of history");
    let (takeover, rebuild) =
        crate::takeover::measure(&crate::takeover::Takeover::of(args.kafka.clone(), events))
            .await?;
    rows.push(Row {
        what: format!("takeover after SIGKILL, {events} events"),
        figure: format!("{takeover:.2} s"),
        against: rebuild.map_or(String::new(), |r| format!("of which rebuilding {r:.2} s")),
        ratio: String::new(),
        target: format!(
            "under 5 s {}",
            if takeover < 5.0 { "(met)" } else { "(missed)" }
        ),
    });
    results.insert(
        "takeover".to_owned(),
        json!({ "events": events, "seconds": takeover, "rebuild_seconds": rebuild }),
    );

    let orders = args.orders;
    println!("bench: processor memory, {orders} orders");
    let memory =
        crate::memory::measure(&crate::memory::Memory::of(args.kafka.clone(), orders)).await?;
    rows.push(Row {
        what: format!("processor memory per live order, {orders} orders"),
        figure: format!("{:.0} B", memory.live_bytes_per_order),
        against: format!(
            "its snapshot {} B ({} B in format 1)",
            memory.snapshot_bytes_live, memory.snapshot_bytes_live_format_1
        ),
        ratio: String::new(),
        target: format!(
            "under 1,024 B {}",
            if memory.live_bytes_per_order < 1024.0 {
                "(met)"
            } else {
                "(missed)"
            }
        ),
    });
    rows.push(Row {
        what: format!("processor memory per final order, {orders} orders"),
        figure: format!("{:.0} B", memory.final_bytes_per_order),
        against: "(on disk: the final store)".to_owned(),
        ratio: String::new(),
        target: "next to nothing".to_owned(),
    });
    results.insert(
        "memory".to_owned(),
        json!({ "orders": orders, "live_bytes_per_order": memory.live_bytes_per_order,
                "final_bytes_per_order": memory.final_bytes_per_order,
                "snapshot_bytes_live": memory.snapshot_bytes_live,
                "snapshot_bytes_live_format_1": memory.snapshot_bytes_live_format_1,
                "serving_after_takeover_s": memory.takeover_seconds_live }),
    );
    Ok(())
}
