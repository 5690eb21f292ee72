//! The run's report, as docs/reliability.md holds it.

use std::fmt::Write as _;
use std::time::Duration;

use super::check::Outcome;
use super::nemesis::Fault;
use super::workload::Record;

pub(crate) struct Injected {
    pub(crate) fault: Fault,
    /// When, from the start of the run.
    pub(crate) at: Duration,
    /// From healing the fault until every service was ready again.
    pub(crate) recovery: Duration,
    /// From healing the fault until a command was acknowledged again.
    pub(crate) flowing: Duration,
    pub(crate) acknowledged_before: u64,
    /// The longest a command in flight during the fault waited for its answer, from the
    /// fault's start (known once the clients stopped).
    pub(crate) longest_wait: chrono::TimeDelta,
    /// Expiries due from the fault's start until its end plus its longest wait, and the
    /// latest of them (due time to visible).
    pub(crate) expiries: (usize, chrono::TimeDelta),
}

pub(crate) struct Summary<'a> {
    pub(crate) short: bool,
    pub(crate) duration: Duration,
    pub(crate) clients: usize,
    pub(crate) record: &'a Record,
    pub(crate) injected: &'a [Injected],
    pub(crate) outcomes: &'a [Outcome],
    pub(crate) first_ready: Duration,
}

impl Summary<'_> {
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## Last run ({}), {}",
            if self.short { "short" } else { "full" },
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:.0} s in all; platform ready {:.1} s after start; {} clients; {} commands acknowledged, {} refused by the domain, {} retries after a 503 or a refused connection, {} duplicate submissions.",
            self.duration.as_secs_f64(),
            self.first_ready.as_secs_f64(),
            self.clients,
            self.record.commands_acknowledged,
            self.record.commands_rejected,
            self.record.retried,
            self.record.duplicates_sent
        );
        if !self.record.refusals.is_empty() {
            let refusals: Vec<String> = self
                .record
                .refusals
                .iter()
                .map(|(code, n)| format!("{code}: {n}"))
                .collect();
            let _ = writeln!(out);
            let _ = writeln!(out, "Refusals by status and code: {}.", refusals.join(", "));
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| Fault | At | Acknowledged before | Every service ready after healing | Commands acknowledged again after healing | Longest command wait from the fault's start | Expiries due then: how many, latest |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
        for injected in self.injected {
            let _ = writeln!(
                out,
                "| {} | {:.0} s | {} | {:.1} s | {:.1} s | {:.1} s | {}, {:.1} s |",
                injected.fault.describe(),
                injected.at.as_secs_f64(),
                injected.acknowledged_before,
                injected.recovery.as_secs_f64(),
                injected.flowing.as_secs_f64(),
                seconds(injected.longest_wait),
                injected.expiries.0,
                seconds(injected.expiries.1)
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "| Check | Result | Detail |");
        let _ = writeln!(out, "| --- | --- | --- |");
        for outcome in self.outcomes {
            let detail = outcome.detail.replace('\n', " ").replace('|', "\\|");
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                outcome.name,
                if outcome.passed { "pass" } else { "FAIL" },
                detail
            );
        }
        out
    }
}

fn seconds(delta: chrono::TimeDelta) -> f64 {
    delta.to_std().unwrap_or_default().as_secs_f64()
}

/// Where the generated part of the report starts; what is above it is prose, kept.
const MARKER: &str = "<!-- The section below is written by `suites chaos --report <file>`. -->";

/// Replaces the generated part of `path` (everything after [`MARKER`]) with `section`.
pub(crate) fn write(path: &std::path::Path, section: &str) -> std::io::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let prose = existing
        .split_once(MARKER)
        .map_or(existing.as_str(), |(prose, _)| prose);
    let prose = prose.trim_end();
    let text = if prose.is_empty() {
        format!("{MARKER}\n\n{section}")
    } else {
        format!("{prose}\n\n{MARKER}\n\n{section}")
    };
    std::fs::write(path, text)
}
