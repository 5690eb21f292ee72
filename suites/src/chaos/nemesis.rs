//! The nemesis: one fault after another, each healed before the next, with the time until
//! every service is ready again.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::dead_letters::POISON_KEY;

use super::services::{Service, wait_ready};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use testkit::open_transaction::OpenTransaction;

/// A fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Fault {
    KillProcessor,
    KillHttp,
    KillProjector,
    KillQueryApi,
    /// SIGSTOP a processor past its session timeout, then SIGCONT: it must be fenced.
    PauseProcessor,
    KillBroker,
    KillController,
    RollingRestart,
    PostgresFast,
    PostgresImmediate,
    Poison,
    RebuildProjection,
    /// Partitions revoked and assigned back while their takeovers are stalled.
    RevokeDuringTakeover,
}

impl Fault {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Fault::KillProcessor => "kill -9 of a processor, started again",
            Fault::KillHttp => "kill -9 of the HTTP tier, started again",
            Fault::KillProjector => "kill -9 of a projector process, started again",
            Fault::KillQueryApi => "kill -9 of query-api, started again",
            Fault::PauseProcessor => {
                "SIGSTOP of a processor for twice its session timeout, then SIGCONT"
            }
            Fault::KillBroker => {
                "kill -9 of one broker (not the controller), started again 5 s later"
            }
            Fault::KillController => "kill -9 of the active controller, started again 5 s later",
            Fault::RollingRestart => "rolling restart of all three brokers (SIGTERM, start, next)",
            Fault::PostgresFast => "PostgreSQL restart, fast",
            Fault::PostgresImmediate => "PostgreSQL restart, immediate (crash recovery)",
            Fault::Poison => "poison records on the commands and events topics",
            Fault::RebuildProjection => "`projectors rebuild orders` in the middle of traffic",
            Fault::RevokeDuringTakeover => {
                "partitions revoked and assigned back while their takeovers are stalled (a transaction left open on every events partition holds them; a processor killed, restarted, killed again)"
            }
        }
    }
}

/// What the nemesis needs to act.
pub(crate) struct Nemesis<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) scripts: &'a Path,
    pub(crate) bootstrap: &'a str,
    pub(crate) prefix: &'a str,
    pub(crate) projectors_binary: &'a Path,
    pub(crate) database_url: &'a str,
    pub(crate) session_timeout: Duration,
}

/// Index of each service in the slice the suite keeps.
pub(crate) const PROCESSOR_A: usize = 0;
pub(crate) const PROCESSOR_B: usize = 1;
pub(crate) const HTTP: usize = 2;
pub(crate) const PROJECTOR_A: usize = 3;
pub(crate) const QUERY_API: usize = 5;

fn script(scripts: &Path, name: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(scripts.join(name)).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Nemesis<'_> {
    /// Injects `fault`, heals it, and returns how long until every service was ready again
    /// after the healing step.
    pub(crate) async fn inject(
        &self,
        fault: Fault,
        services: &mut [Service],
    ) -> anyhow::Result<(Instant, Duration)> {
        let restart = |services: &mut [Service], index: usize| -> anyhow::Result<()> {
            services[index].kill();
            services[index].start()
        };
        match fault {
            Fault::KillProcessor => restart(services, PROCESSOR_A)?,
            Fault::KillHttp => restart(services, HTTP)?,
            Fault::KillProjector => restart(services, PROJECTOR_A)?,
            Fault::KillQueryApi => restart(services, QUERY_API)?,
            Fault::PauseProcessor => {
                services[PROCESSOR_B].signal("-STOP")?;
                tokio::time::sleep(self.session_timeout * 2).await;
                services[PROCESSOR_B].signal("-CONT")?;
            }
            Fault::KillBroker | Fault::KillController => {
                let controller: u8 =
                    script(self.scripts, "cluster.sh", &["controller"])?.parse()?;
                let node = if fault == Fault::KillController {
                    controller
                } else {
                    controller % 3 + 1
                };
                let node = node.to_string();
                script(self.scripts, "cluster.sh", &["kill", &node])?;
                tokio::time::sleep(Duration::from_secs(5)).await;
                script(self.scripts, "cluster.sh", &["start", &node])?;
            }
            Fault::RollingRestart => {
                for node in ["1", "2", "3"] {
                    script(self.scripts, "cluster.sh", &["stop", node])?;
                    script(self.scripts, "cluster.sh", &["start", node])?;
                }
            }
            Fault::PostgresFast => {
                script(self.scripts, "postgres.sh", &["restart", "fast"])?;
            }
            Fault::PostgresImmediate => {
                script(self.scripts, "postgres.sh", &["restart", "immediate"])?;
            }
            Fault::Poison => self.poison()?,
            Fault::RevokeDuringTakeover => self.revoke_during_takeover(services).await?,
            Fault::RebuildProjection => {
                let status = Command::new(self.projectors_binary)
                    .args(["rebuild", "orders"])
                    .env("ORDERLOG_KAFKA_BOOTSTRAP", self.bootstrap)
                    .env("ORDERLOG_TOPIC_PREFIX", self.prefix)
                    .env("ORDERLOG_DATABASE_URL", self.database_url)
                    .env("ORDERLOG_LOG_FORMAT", "json")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()?;
                anyhow::ensure!(status.success(), "projectors rebuild orders failed");
            }
        }
        let healed = Instant::now();
        wait_ready(self.http, services, Duration::from_secs(180)).await?;
        Ok((healed, healed.elapsed()))
    }

    /// Every takeover stalls (settling waits for a transaction another producer holds open
    /// on each events partition) while the group moves partitions away from a processor
    /// and back: processor A killed (B takes its partitions over, stalled), started (B's
    /// stalled takeovers are revoked, some), killed again (given back to B while they may
    /// still run), started again; then the open transaction ends.
    async fn revoke_during_takeover(&self, services: &mut [Service]) -> anyhow::Result<()> {
        let events = event_store::TopicSet::new(self.prefix).events;
        let holder = {
            let (bootstrap, events) = (self.bootstrap.to_owned(), events.clone());
            tokio::task::spawn_blocking(move || {
                OpenTransaction::hold(&bootstrap, &events, &[], &format!("{events}-nemesis"))
            })
            .await??
        };
        let moved = self.session_timeout + Duration::from_secs(2);
        services[PROCESSOR_A].kill();
        tokio::time::sleep(moved).await;
        services[PROCESSOR_A].start()?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        services[PROCESSOR_A].kill();
        tokio::time::sleep(moved).await;
        services[PROCESSOR_A].start()?;
        tokio::time::sleep(Duration::from_secs(4)).await;
        tokio::task::spawn_blocking(move || holder.abort()).await??;
        Ok(())
    }

    /// Records any client could write: too large, not JSON, no headers at all.
    fn poison(&self) -> anyhow::Result<()> {
        let producer: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap)
            .set("message.max.bytes", "1048576")
            .create()?;
        let big = vec![b'x'; 1_000_000];
        let values: [&[u8]; 3] = [&big, b"{not json", b"{}"];
        let topics = event_store::TopicSet::new(self.prefix);
        for topic in [&topics.commands, &topics.events] {
            for value in values {
                producer
                    .send(
                        BaseRecord::<'_, [u8], [u8]>::to(topic)
                            .key(POISON_KEY)
                            .payload(value),
                    )
                    .map_err(|(e, _)| e)?;
            }
        }
        producer.flush(Duration::from_secs(30))?;
        Ok(())
    }
}
