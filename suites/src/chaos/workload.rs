//! The workload: concurrent clients sending order flows, an Idempotency-Key on every
//! command, retrying a 503 (or a refused connection) with the same key until the answer is
//! definite, and recording every answer. Now and then a client sends a finished command
//! again (a duplicate submission): it must get the same answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What the clients saw.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// Event ids of every 2xx answer.
    pub(crate) acknowledged_events: Vec<String>,
    pub(crate) commands_acknowledged: u64,
    pub(crate) commands_rejected: u64,
    /// The refusals, by status and problem code.
    pub(crate) refusals: std::collections::BTreeMap<String, u64>,
    /// 503s and refused connections, each later resolved by a retry with the same key.
    pub(crate) retried: u64,
    /// Commands still without a definite answer when the clients stopped.
    pub(crate) unresolved: u64,
    pub(crate) duplicates_sent: u64,
    /// Duplicate submissions whose answer differed from the first.
    pub(crate) duplicate_mismatches: Vec<String>,
    /// When each command with a definite answer was first sent and when it was answered:
    /// how long a fault kept commands waiting.
    pub(crate) waits: Vec<Wait>,
}

/// One command's first send and its definite answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    pub(crate) sent: DateTime<Utc>,
    pub(crate) answered: DateTime<Utc>,
}

impl Record {
    /// Adds another client's record to this one.
    pub(crate) fn absorb(&mut self, other: Self) {
        self.acknowledged_events.extend(other.acknowledged_events);
        self.commands_acknowledged += other.commands_acknowledged;
        self.commands_rejected += other.commands_rejected;
        for (code, n) in other.refusals {
            *self.refusals.entry(code).or_default() += n;
        }
        self.retried += other.retried;
        self.unresolved += other.unresolved;
        self.duplicates_sent += other.duplicates_sent;
        self.duplicate_mismatches.extend(other.duplicate_mismatches);
        self.waits.extend(other.waits);
    }

    /// Counts one definite answer: acknowledged with its events, or refused with its code.
    pub(crate) fn answered(&mut self, progress: &Progress, status: u16, body: &Value) {
        if (200..300).contains(&status) {
            self.commands_acknowledged += 1;
            progress.acknowledged.fetch_add(1, Ordering::Relaxed);
            for event in body["events"].as_array().into_iter().flatten() {
                if let Some(event_id) = event["id"].as_str() {
                    self.acknowledged_events.push(event_id.to_owned());
                }
            }
        } else {
            self.commands_rejected += 1;
            let code = body["code"].as_str().unwrap_or("?");
            *self.refusals.entry(format!("{status} {code}")).or_default() += 1;
        }
    }
}

/// What every client of a run shares: how it sends, where (the processes in turn), when to
/// stop, and how long to finish what is in flight after that.
#[derive(Clone)]
pub(crate) struct Crew {
    pub(crate) http: reqwest::Client,
    pub(crate) bases: Vec<String>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) drain: Duration,
    pub(crate) progress: Arc<Progress>,
}

/// Shared counters the nemesis reads for the report.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) acknowledged: AtomicU64,
}

pub(crate) fn money(minor: i64) -> Value {
    json!({ "amount_minor": minor, "currency": "EUR" })
}

/// Where a command's attempts go: the first to `bases[first]`, each retry to the next base
/// (a killed process is not waited for; any process takes any command).
#[derive(Clone, Copy)]
pub(crate) struct Targets<'a> {
    pub(crate) bases: &'a [String],
    pub(crate) first: usize,
}

impl Targets<'_> {
    fn attempt(&self, n: usize) -> &str {
        &self.bases[(self.first + n) % self.bases.len().max(1)]
    }
}

/// A PlaceOrder of one line (2 x 5.00 EUR) for one of four customers.
pub(crate) fn place_body(client: usize) -> Value {
    json!({
        "customer_id": format!("chaos-{}", client % 4), "currency": "EUR",
        "lines": [{ "sku": "A-1", "quantity": 2, "unit_price": money(500) }],
        "shipping_address": { "name": "Ada", "line1": "1 Way", "city": "Berlin", "postal_code": "10115", "country": "DE" }
    })
}

/// Sends one command until its answer is definite: `None` when `stop_by` passed first.
pub(crate) async fn definite(
    http: &reqwest::Client,
    targets: Targets<'_>,
    path: &str,
    body: &Value,
    key: &str,
    record: &mut Record,
    stop_by: Instant,
) -> Option<(u16, Value)> {
    let mut attempt = 0;
    let sent = Utc::now();
    loop {
        let base = targets.attempt(attempt);
        attempt += 1;
        let reply = http
            .post(format!("{base}{path}"))
            .header("Idempotency-Key", key)
            .json(body)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        match reply {
            Ok(response) if response.status().as_u16() != 503 => {
                let status = response.status().as_u16();
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                record.waits.push(Wait {
                    sent,
                    answered: Utc::now(),
                });
                return Some((status, body));
            }
            // A 503, a refused connection (the HTTP tier killed), a timeout: retry.
            _ => {
                record.retried += 1;
                if Instant::now() > stop_by {
                    record.unresolved += 1;
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// One client: order flows until `stop`; then whatever is in flight is finished (retries
/// go on up to `drain` longer). Its commands go to the `bases` in turn, so one order's
/// commands reach several processes: through the commands topic from a process that does
/// not own the order, handed over directly in one that does.
pub(crate) async fn client(crew: Crew, id: usize) -> Record {
    let Crew {
        http,
        bases,
        stop,
        drain,
        progress,
    } = crew;
    let mut record = Record::default();
    let mut n = 0;
    let mut stop_by = Instant::now() + Duration::from_secs(24 * 3600);
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let key = format!("chaos-c{id}-o{n}");
        let place = place_body(id);
        let cancels = n % 5 == 0;
        let mut steps = vec![("/v1/orders".to_owned(), place)];
        let mut order_id: Option<String> = None;
        let mut step = 0;
        while let Some((path, body)) = steps.pop() {
            if stop.load(Ordering::SeqCst) && stop_by > Instant::now() + drain {
                stop_by = Instant::now() + drain;
            }
            let step_key = format!("{key}-{step}");
            let targets = Targets {
                bases: &bases,
                first: id + step,
            };
            let Some((status, answer)) = definite(
                &http,
                targets,
                &path,
                &body,
                &step_key,
                &mut record,
                stop_by,
            )
            .await
            else {
                break;
            };
            record.answered(&progress, status, &answer);
            if step == 0 {
                order_id = answer["order_id"].as_str().map(str::to_owned);
            }
            // A duplicate submission of every seventh command: the first answer again.
            if (n + step) % 7 == 0 {
                record.duplicates_sent += 1;
                let retarget = Targets {
                    first: id + step + 1,
                    ..targets
                };
                if let Some((again, repeated)) = definite(
                    &http,
                    retarget,
                    &path,
                    &body,
                    &step_key,
                    &mut record,
                    stop_by,
                )
                .await
                    && (again != status
                        || repeated["version"] != answer["version"]
                        || repeated["events"] != answer["events"])
                {
                    record.duplicate_mismatches.push(format!(
                        "{step_key}: {status} {answer} then {again} {repeated}"
                    ));
                }
            }
            let Some(order) = &order_id else { break };
            step += 1;
            let next = match (step, cancels) {
                (1, _) => Some((
                    format!("/v1/orders/{order}/lines"),
                    json!({"sku": "B-2", "quantity": 1, "unit_price": money(250)}),
                )),
                (2, true) => Some((
                    format!("/v1/orders/{order}/cancellation"),
                    json!({"reason": "changed mind"}),
                )),
                (2, false) => Some((
                    format!("/v1/orders/{order}/payment"),
                    json!({"payment_reference": format!("psp-{id}-{n}"), "amount": money(1250)}),
                )),
                (3, false) => Some((
                    format!("/v1/orders/{order}/shipment"),
                    json!({"carrier": "DHL", "tracking_number": format!("TRK{id}X{n:04}")}),
                )),
                (4, false) => Some((format!("/v1/orders/{order}/delivery"), json!({}))),
                _ => None,
            };
            steps.extend(next);
        }
    }
    record
}
