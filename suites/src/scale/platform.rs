//! The scaled-out platform: each tier's instances as processes (one slot more than it
//! starts with, for the instance added under load) behind HAProxy.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{Counts, SESSION_TIMEOUT, Scale};
use crate::chaos::services::{self, Service};
use testkit::balancer;

/// The tiers' instances: `[processors, http, projectors, query]`, each tier one slot
/// larger than it starts.
pub(super) struct Platform {
    pub(super) tiers: [Vec<Service>; 4],
    pub(super) _balancer: balancer::Balancer,
    pub(super) commands_url: String,
    pub(super) queries_url: String,
    pub(super) prefix: String,
    pub(super) database_url: String,
}

pub(super) const TIER_NAMES: [&str; 4] = ["processor", "http", "projectors", "query-api"];

impl Platform {
    pub(super) fn start(
        args: &Scale,
        bin: &Path,
        counts: Counts,
        auth: &testkit::harness::auth::OwnAuth,
        database_url: String,
    ) -> anyhow::Result<Self> {
        let prefix = format!("scale-{}.", uuid::Uuid::new_v4().simple());
        let (commands_port, queries_port) = (args.first_port + 15, args.first_port + 16);
        let queries_url = format!("http://127.0.0.1:{queries_port}");
        let common = |extra: Vec<(&str, String)>| -> Vec<(String, String)> {
            let mut env = vec![
                (
                    "ORDERLOG_KAFKA_BOOTSTRAP".to_owned(),
                    args.bootstrap.clone(),
                ),
                ("ORDERLOG_TOPIC_PREFIX".to_owned(), prefix.clone()),
                (
                    "ORDERLOG_TOPIC_REPLICATION".to_owned(),
                    args.replication.to_string(),
                ),
                ("ORDERLOG_TOPIC_PARTITIONS".to_owned(), "6".to_owned()),
                (
                    "ORDERLOG_PROCESSOR_SESSION_TIMEOUT_MS".to_owned(),
                    SESSION_TIMEOUT.as_millis().to_string(),
                ),
                ("ORDERLOG_LOG_FORMAT".to_owned(), "json".to_owned()),
            ];
            env.extend(auth.env());
            env.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
            env
        };
        let logs = args.log_dir.as_path();
        let slots = |tier: usize, count: usize, port: &mut dyn FnMut() -> u16| {
            (0..=count)
                .map(|i| {
                    let p = port();
                    let listen = format!("127.0.0.1:{p}");
                    let (binary, env) = match tier {
                        0 => (
                            "command-api",
                            common(vec![
                                ("ORDERLOG_ROLE", "processor".into()),
                                ("ORDERLOG_COMMAND_API_LISTEN", listen),
                            ]),
                        ),
                        1 => (
                            "command-api",
                            common(vec![
                                ("ORDERLOG_ROLE", "http".into()),
                                ("ORDERLOG_COMMAND_API_LISTEN", listen),
                                ("ORDERLOG_QUERY_API_URL", queries_url.clone()),
                            ]),
                        ),
                        2 => (
                            "projectors",
                            common(vec![
                                ("ORDERLOG_PROJECTORS_LISTEN", listen),
                                ("ORDERLOG_DATABASE_URL", database_url.clone()),
                            ]),
                        ),
                        _ => (
                            "query-api",
                            common(vec![
                                ("ORDERLOG_QUERY_LISTEN", listen),
                                ("ORDERLOG_QUERY_DATABASE_URL", database_url.clone()),
                            ]),
                        ),
                    };
                    let name = format!("scale-{}-{}", TIER_NAMES[tier], i + 1);
                    Service::new(&name, bin.join(binary), &[], env, p, logs)
                })
                .collect::<Vec<_>>()
        };
        // Fixed ports per tier whatever the counts: four slots each, at most.
        let mut tiers: [Vec<Service>; 4] = Default::default();
        let sizes = [
            counts.processors,
            counts.http,
            counts.projectors,
            counts.query,
        ];
        for (tier, size) in sizes.into_iter().enumerate() {
            let mut tier_port = {
                let mut base = args.first_port + u16::try_from(tier * 4)?;
                move || {
                    base += 1;
                    base - 1
                }
            };
            tiers[tier] = slots(tier, size, &mut tier_port);
        }
        let ports = |tier: usize| tiers[tier].iter().map(|s| s.port).collect::<Vec<_>>();
        let config = balancer::config(commands_port, &ports(1), queries_port, &ports(3));
        let balancer = balancer::Balancer::start(&config, logs)?;
        Ok(Self {
            tiers,
            _balancer: balancer,
            commands_url: format!("http://127.0.0.1:{commands_port}"),
            queries_url,
            prefix,
            database_url,
        })
    }

    /// Starts each tier's first `counts` instances, the first processor alone first (it
    /// creates the topics); waits for them to be ready.
    pub(super) async fn start_initial(
        &mut self,
        http: &reqwest::Client,
    ) -> anyhow::Result<Duration> {
        self.tiers[0][0].start()?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        for tier in &mut self.tiers {
            let initial = tier.len() - 1;
            for service in tier.iter_mut().take(initial) {
                if !service.alive() {
                    service.start()?;
                }
            }
        }
        self.wait_running_ready(http).await
    }

    pub(super) async fn wait_running_ready(
        &mut self,
        http: &reqwest::Client,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for tier in &mut self.tiers {
            let first = tier.iter().position(Service::started).unwrap_or(0);
            let last = tier
                .iter()
                .rposition(Service::started)
                .map_or(first, |i| i + 1);
            services::wait_ready(http, &mut tier[first..last], Duration::from_secs(240)).await?;
        }
        Ok(started.elapsed())
    }
}
