//! What `suites scale` checks once the load has run: exits, retries, work taken by the
//! added instances, readiness, the log and `orderlog verify`.

use std::path::Path;

use super::platform::Platform;
use super::{Run, Scale};
use crate::chaos::check::{self, Outcome};
use crate::chaos::services::Service;

pub(super) async fn checks(
    args: &Scale,
    bin: &Path,
    http: &reqwest::Client,
    platform: &mut Platform,
    run: &Run,
    exits: &[(String, Option<i32>)],
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = vec![Outcome {
        name: "every removed instance exited 0 on SIGTERM",
        passed: exits.len() == 4 && exits.iter().all(|(_, code)| *code == Some(0)),
        detail: format!("{exits:?}"),
    }];
    let record = &run.record;
    outcomes.push(Outcome {
        name: "every 503 resolved by a retry with the same key",
        passed: record.unresolved == 0 && record.duplicate_mismatches.is_empty(),
        detail: format!(
            "{} retries, {} unresolved, {} duplicate submissions, mismatches {:?}",
            record.retried, record.unresolved, record.duplicates_sent, record.duplicate_mismatches
        ),
    });
    outcomes.push(Outcome {
        name: "every GraphQL read through the balancer answered",
        passed: run.reads.failed.is_empty() && run.reads.answered > 0,
        detail: format!(
            "{} answered, {} on a second try, failed: {:?}",
            run.reads.answered,
            run.reads.retried,
            run.reads.failed.iter().take(3).collect::<Vec<_>>()
        ),
    });
    // Each added instance took work: requests through the balancer, partitions, events.
    let added = |tier: usize| {
        platform.tiers[tier]
            .last()
            .map(Service::url)
            .unwrap_or_default()
    };
    let took = [
        (
            "processor",
            testkit::metrics::scraped_sum(http, &added(0), "orderlog_processor_commands_total")
                .await,
        ),
        (
            "http",
            testkit::metrics::scraped_sum(http, &added(1), "orderlog_http_requests_total").await,
        ),
        (
            "projectors",
            testkit::metrics::scraped_sum(http, &added(2), "orderlog_projection_events_total")
                .await,
        ),
        (
            "query-api",
            testkit::metrics::scraped_sum(http, &added(3), "orderlog_query_request_seconds_count")
                .await,
        ),
    ];
    outcomes.push(Outcome {
        name: "every added instance took work",
        passed: took.iter().all(|(_, n)| *n > 0.0),
        detail: format!("{took:?}"),
    });
    let ready = platform.wait_running_ready(http).await;
    outcomes.push(Outcome {
        name: "every remaining instance ready",
        passed: ready.is_ok(),
        detail: ready.map_or_else(|e| e.to_string(), |d| format!("after {d:?}")),
    });

    let mut once = check::acknowledged_once(
        &args.bootstrap,
        &platform.prefix,
        &record.acknowledged_events,
    )
    .await?;
    // Under load, something must have been acknowledged for this to mean anything.
    once.passed &= record.commands_acknowledged > 0;
    outcomes.push(once);
    let verified = {
        let (cli, bootstrap, prefix, url) = (
            bin.join("orderlog"),
            args.bootstrap.clone(),
            platform.prefix.clone(),
            platform.database_url.clone(),
        );
        tokio::task::spawn_blocking(move || check::verify(&cli, &bootstrap, &prefix, &url)).await?
    };
    outcomes.push(verified);
    Ok(outcomes)
}
