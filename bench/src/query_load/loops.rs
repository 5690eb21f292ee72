//! How the load runs: closed loop (clients in turn), open loop (a fixed rate), the warm-up
//! pass and the writes beside it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Query;
use super::runner::Runner;
use crate::stats::{Summary, summarize};

/// Reads every order once, `clients` at a time.
pub(super) async fn warm(runner: &Arc<Runner>, clients: usize) -> anyhow::Result<()> {
    let tasks: Vec<_> = (0..clients.max(1))
        .map(|client| {
            let runner = runner.clone();
            tokio::spawn(async move {
                for index in (client..runner.ids.len()).step_by(clients.max(1)) {
                    runner.read(index, index).await?;
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

/// Sends `--writes` commands/s to the hot fifth for the run's length; accepted, refused.
pub(super) fn writes(
    runner: &Arc<Runner>,
    args: &Query,
) -> anyhow::Result<Option<tokio::task::JoinHandle<(usize, usize)>>> {
    if args.writes == 0 {
        return Ok(None);
    }
    let commands = reqwest::Client::builder()
        .default_headers(args.token.headers()?)
        .build()?;
    let (runner, url) = (runner.clone(), args.command_url.clone());
    let interval = Duration::from_secs_f64(1.0 / args.writes as f64);
    let total = usize::try_from(args.writes * args.seconds)?;
    Ok(Some(tokio::spawn(async move {
        let started = Instant::now();
        let mut sent = Vec::with_capacity(total);
        for n in 0..total {
            tokio::time::sleep_until((started + interval.mul_f64(n as f64)).into()).await;
            let (runner, commands, url) = (runner.clone(), commands.clone(), url.clone());
            sent.push(tokio::spawn(async move {
                runner.write(&commands, &url, n).await
            }));
        }
        let (mut accepted, mut refused) = (0, 0);
        for write in sent {
            match write.await {
                Ok(Ok(())) => accepted += 1,
                Ok(Err(error)) => {
                    refused += 1;
                    if refused <= 3 {
                        eprintln!("write refused: {error}");
                    }
                }
                Err(_) => refused += 1,
            }
        }
        (accepted, refused)
    })))
}

/// What a closed-loop run did: requests answered, failed, read stale (older than a version
/// the same client had read before), in how long, and the latency.
pub(super) struct ClosedRun {
    pub(super) done: usize,
    pub(super) failed: usize,
    pub(super) stale: usize,
    pub(super) elapsed: f64,
    pub(super) summary: Summary,
}

pub(super) async fn closed_loop(
    runner: &Arc<Runner>,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<ClosedRun> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let runner = runner.clone();
            tokio::spawn(async move {
                let (mut samples, mut failed, mut stale) = (Vec::new(), 0, 0);
                let mut seen = std::collections::HashMap::new();
                let mut n = client * 7_919;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match runner.one(n).await {
                        Ok(read) => {
                            samples.push(sent.elapsed());
                            if let Some((order, version)) = read {
                                let last = seen.entry(order).or_insert(version);
                                stale += usize::from(version < *last);
                                *last = (*last).max(version);
                            }
                        }
                        Err(error) => {
                            failed += 1;
                            if failed <= 3 {
                                eprintln!("request failed: {error}");
                            }
                        }
                    }
                    n += 1;
                }
                (samples, failed, stale)
            })
        })
        .collect();
    let (mut samples, mut failed, mut stale) = (Vec::new(), 0, 0);
    for task in tasks {
        let (s, f, st) = task.await?;
        samples.extend(s);
        failed += f;
        stale += st;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(ClosedRun {
        done: samples.len(),
        failed,
        stale,
        elapsed,
        summary: summarize(samples),
    })
}

pub(super) async fn open_loop(
    runner: &Arc<Runner>,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<(usize, Summary)> {
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = usize::try_from(rate * seconds)?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    // Requests leave on schedule whether or not earlier ones have answered, so a slow
    // answer shows in the latency instead of lowering the load.
    for n in 0..total {
        tokio::time::sleep_until((started + interval.mul_f64(n as f64)).into()).await;
        let runner = runner.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            runner.one(n).await.map(|_| sent.elapsed())
        }));
    }
    let (mut samples, mut failed) = (Vec::new(), 0);
    for task in tasks {
        match task.await? {
            Ok(sample) => samples.push(sample),
            Err(_) => failed += 1,
        }
    }
    Ok((failed, summarize(samples)))
}
