//! Replay speed: `orderlog events replay` writing JSON Lines, beside the ceiling, a plain
//! read_committed consumer that writes each record's raw value to a file.

use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use event_store::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};

#[derive(Debug, clap::Args)]
pub(crate) struct Replay {
    #[command(flatten)]
    kafka: testkit::harness::stack::Kafka,
    /// Events to write, then replay.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Where the outputs go (deleted afterwards).
    #[arg(long, default_value = "/tmp")]
    dir: std::path::PathBuf,
}

impl Replay {
    /// `events` events, outputs in the temporary directory, as `bench all` takes it.
    pub(crate) fn of(kafka: testkit::harness::stack::Kafka, events: u64) -> Self {
        Self {
            kafka,
            events,
            dir: std::env::temp_dir(),
        }
    }
}

pub(crate) async fn run(args: Replay) -> anyhow::Result<()> {
    measure(&args).await.map(|_| ())
}

/// Events/s of the replay to JSON Lines, of the Parquet export, and of the plain consumer
/// (the ceiling of both).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figures {
    pub(crate) replayed: f64,
    pub(crate) exported: f64,
    pub(crate) ceiling: f64,
    /// The medians of each round's ratio to that round's plain consumer.
    pub(crate) replay_ratio: f64,
    pub(crate) export_ratio: f64,
}

/// Each of the plain consumer, the replays and the export runs this many times, in turn;
/// the figures are the medians (the machine is shared, and the page cache of one run's
/// output is written back while the next runs).
const ROUNDS: usize = 3;

pub(crate) async fn measure(args: &Replay) -> anyhow::Result<Figures> {
    let (prefix, kafka, topics) =
        crate::rebuild::filled_log(&args.kafka.bootstrap, args.events).await?;
    let orderlog = std::env::current_exe()?.with_file_name("orderlog");
    anyhow::ensure!(
        orderlog.exists(),
        "build it first: cargo build --release -p orderlog-cli"
    );
    let base = [
        "--bootstrap",
        &args.kafka.bootstrap,
        "--topic-prefix",
        &prefix,
        "events",
        "replay",
    ];
    let (mut ceilings, mut replays, mut exports) = (vec![], vec![], vec![]);
    for round in 1..=ROUNDS {
        println!("round {round} of {ROUNDS}");
        let raw = args.dir.join(format!("{prefix}raw"));
        let (kafka2, topic, path) = (kafka.clone(), topics.events.clone(), raw.clone());
        let started = Instant::now();
        let read =
            tokio::task::spawn_blocking(move || plain_copy(&kafka2, &topic, &path)).await??;
        ceilings.push(read as f64 / started.elapsed().as_secs_f64());
        report(
            "ceiling: plain consumer writing raw values",
            read,
            started.elapsed(),
            &raw,
        );
        settle(&raw);

        let jsonl = args.dir.join(format!("{prefix}jsonl"));
        let (lines, elapsed) = timed_replay(&orderlog, &base, &[], &jsonl)?;
        replays.push(lines as f64 / elapsed.as_secs_f64());
        report(
            "orderlog events replay to JSON Lines",
            lines,
            elapsed,
            &jsonl,
        );
        settle(&jsonl);

        let csv = args.dir.join(format!("{prefix}csv"));
        let (rows, elapsed) = timed_replay(&orderlog, &base, &["--format", "csv"], &csv)?;
        report("orderlog events replay to CSV", rows - 1, elapsed, &csv);
        settle(&csv);

        let parquet = args.dir.join(format!("{prefix}parquet"));
        let (events, elapsed) = timed_export(&orderlog, &base[..4], &parquet)?;
        exports.push(events as f64 / elapsed.as_secs_f64());
        println!(
            "orderlog export parquet: {events} events in {:.2} s = {:.0} events/s ({} MB written)",
            elapsed.as_secs_f64(),
            events as f64 / elapsed.as_secs_f64(),
            dir_bytes(&parquet) / 1_000_000
        );
        let _ = std::fs::remove_dir_all(&parquet);
        settle(&parquet);
    }
    testkit::harness::clean::remove_topics(&args.kafka.bootstrap, &[&prefix]).await?;
    let ratios = |figures: &[f64]| -> f64 {
        median(figures.iter().zip(&ceilings).map(|(f, c)| f / c).collect())
    };
    let figures = Figures {
        replay_ratio: ratios(&replays),
        export_ratio: ratios(&exports),
        replayed: median(replays),
        exported: median(exports),
        ceiling: median(ceilings),
    };
    println!(
        "medians of {ROUNDS}: plain consumer {:.0}/s, replay to JSON Lines {:.0}/s ({:.2}x), export to Parquet {:.0}/s ({:.2}x) (ratios: the median of each round's)",
        figures.ceiling,
        figures.replayed,
        figures.replay_ratio,
        figures.exported,
        figures.export_ratio
    );
    Ok(figures)
}

/// Deletes a run's output and waits for the disk to have written everything back, so the
/// next run is not timed with this one's write-back.
fn settle(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::process::Command::new("sync").status();
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs `orderlog export parquet` into the new directory `out`; returns the events it
/// committed (from its report) and how long it took.
fn timed_export(
    orderlog: &std::path::Path,
    base: &[&str],
    out: &std::path::Path,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let output = std::process::Command::new(orderlog)
        .args(base)
        .args(["export", "parquet", "--out"])
        .arg(out)
        .stderr(std::process::Stdio::piped())
        .output()?;
    let elapsed = started.elapsed();
    let report = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(output.status.success(), "orderlog export failed: {report}");
    let events = report
        .split_once("committed ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no count in the export's report: {report}"))?;
    Ok((events, elapsed))
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Runs `orderlog` writing to `out`; returns the lines written and how long it took.
fn timed_replay(
    orderlog: &std::path::Path,
    base: &[&str],
    extra: &[&str],
    out: &std::path::Path,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let status = std::process::Command::new(orderlog)
        .args(base)
        .args(extra)
        .arg("-o")
        .arg(out)
        .status()?;
    anyhow::ensure!(status.success(), "orderlog failed");
    let elapsed = started.elapsed();
    Ok((
        std::fs::read_to_string(out)?.lines().count() as u64,
        elapsed,
    ))
}

fn report(what: &str, events: u64, elapsed: Duration, path: &std::path::Path) {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{what}: {events} events in {:.2} s = {:.0} events/s ({} MB written)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        bytes / 1_000_000
    );
}

/// Reads partition 0 from the beginning to its end, writing each value and a newline.
fn plain_copy(kafka: &KafkaConfig, topic: &str, path: &std::path::Path) -> anyhow::Result<u64> {
    let consumer: BaseConsumer = kafka
        .bulk_reader("bench-plain")
        .set("enable.partition.eof", "true")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut read = 0;
    loop {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                out.write_all(message.payload().unwrap_or_default())?;
                out.write_all(b"\n")?;
                read += 1;
            }
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(error)) => return Err(error.into()),
            None => {}
        }
    }
    out.flush()?;
    Ok(read)
}
