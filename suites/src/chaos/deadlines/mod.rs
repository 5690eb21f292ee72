//! The deadline part of the workload: orders placed with the shortest payment window a
//! PlaceOrder may ask for, a quarter never paid, a quarter paid 300 ms before the window
//! closes, a quarter 20 ms before it (received before, decided after when the payment
//! travels through the commands topic), a quarter just after. Every payment's answer is kept with when it was sent, so the checker
//! can hold each refusal to the time the platform received the payment.
//!
//! Layout: this file (the clients), `watch` (when each expiry became visible to a
//! read_committed reader), `check` (the invariants and the lateness).

pub(crate) mod check;
pub(crate) mod watch;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::workload::{Crew, Record, Targets, definite, money, place_body};

/// The payment window every order of this part asks for: the shortest allowed.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// How far from the due time the clients pay "just before" and "just after".
const MARGIN: chrono::TimeDelta = chrono::TimeDelta::milliseconds(300);
/// How far before the earliest due time the clients pay "at the due time": received a few
/// milliseconds before it, decided after it when it travels through the commands topic.
const AT_DUE: chrono::TimeDelta = chrono::TimeDelta::milliseconds(20);
/// A new order every this long, per client.
const PACE: Duration = Duration::from_secs(1);

/// What a client means to do with an order's payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Unpaid,
    /// Sent 300 ms before the earliest the window can close.
    JustBefore,
    /// Sent 20 ms before the earliest the window can close: the race the stream time decides.
    AtDue,
    /// Sent 300 ms after the latest the window can close.
    JustAfter,
}

/// One payment and its definite answer.
#[derive(Debug, Clone)]
pub(crate) struct Payment {
    pub(crate) order_id: String,
    pub(crate) plan: Plan,
    pub(crate) sent_at: DateTime<Utc>,
    pub(crate) status: u16,
    pub(crate) answer: Value,
}

/// What the deadline clients saw.
#[derive(Debug, Default)]
pub(crate) struct DeadlineRecord {
    pub(crate) record: Record,
    /// Every order placed, with its plan.
    pub(crate) placed: Vec<(String, Plan)>,
    pub(crate) payments: Vec<Payment>,
}

impl DeadlineRecord {
    pub(crate) fn absorb(&mut self, other: Self) {
        self.record.absorb(other.record);
        self.placed.extend(other.placed);
        self.payments.extend(other.payments);
    }
}

/// One deadline client: an order every second until `stop`, each followed by its task;
/// returns once every order's payment (if any) has its answer, or `drain` after its window.
pub(crate) async fn client(crew: Crew, id: usize) -> DeadlineRecord {
    let mut orders = JoinSet::new();
    let mut n = 0;
    while !crew.stop.load(Ordering::SeqCst) {
        n += 1;
        let plan = match n % 4 {
            0 => Plan::Unpaid,
            1 => Plan::JustBefore,
            2 => Plan::AtDue,
            _ => Plan::JustAfter,
        };
        orders.spawn(order(crew.clone(), (id, n), plan));
        tokio::time::sleep(PACE).await;
    }
    let mut all = DeadlineRecord::default();
    while let Some(done) = orders.join_next().await {
        if let Ok(done) = done {
            all.absorb(done);
        }
    }
    all
}

/// Places one order with the short window and carries out its plan.
async fn order(crew: Crew, (id, n): (usize, usize), plan: Plan) -> DeadlineRecord {
    let Crew {
        http,
        bases,
        drain,
        progress,
        ..
    } = crew;
    let mut done = DeadlineRecord::default();
    let stop_by = std::time::Instant::now() + WINDOW + drain;
    let key = format!("chaos-d{id}-o{n}");
    let mut place = place_body(id);
    place["payment_window_seconds"] = json!(WINDOW.as_secs());
    let targets = Targets {
        bases: &bases,
        first: id + n,
    };
    let sent = Utc::now();
    let placed = definite(
        &http,
        targets,
        "/v1/orders",
        &place,
        &format!("{key}-0"),
        &mut done.record,
        stop_by,
    )
    .await;
    let answered = Utc::now();
    let Some((status, answer)) = placed else {
        return done;
    };
    done.record.answered(&progress, status, &answer);
    let Some(order_id) = answer["order_id"].as_str().map(str::to_owned) else {
        return done;
    };
    done.placed.push((order_id.clone(), plan));
    let window = chrono::TimeDelta::from_std(WINDOW).unwrap_or_default();
    // The window counts from when the PlaceOrder was received: after `sent`, before
    // `answered`.
    let pay_at = match plan {
        Plan::Unpaid => return done,
        Plan::JustBefore => sent + window - MARGIN,
        Plan::AtDue => sent + window - AT_DUE,
        Plan::JustAfter => answered + window + MARGIN,
    };
    if let Ok(wait) = (pay_at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let pay = json!({"payment_reference": format!("psp-d{id}-{n}"), "amount": money(1000)});
    let sent_at = Utc::now();
    let targets = Targets {
        first: id + n + 1,
        ..targets
    };
    let path = format!("/v1/orders/{order_id}/payment");
    if let Some((status, answer)) = definite(
        &http,
        targets,
        &path,
        &pay,
        &format!("{key}-1"),
        &mut done.record,
        stop_by,
    )
    .await
    {
        done.record.answered(&progress, status, &answer);
        done.payments.push(Payment {
            order_id,
            plan,
            sent_at,
            status,
            answer,
        });
    }
    done
}

/// How long after the last window can close the checks wait for its expiry.
const SETTLE: Duration = Duration::from_secs(3);

/// Once the clients have stopped (at `stopped_at`): waits until the window of every order
/// placed has passed, then the deadline checks. The short run (debug binaries, in `make
/// test` on a shared machine) reports the lateness without holding it to its bounds.
pub(crate) async fn checks(
    bootstrap: &str,
    prefix: &str,
    done: &DeadlineRecord,
    watch: watch::Watch,
    stopped_at: DateTime<Utc>,
    (faults, waits): (&[check::Span], &[super::workload::Wait]),
    short: bool,
) -> anyhow::Result<(Vec<super::check::Outcome>, Vec<watch::Seen>)> {
    let all_due = stopped_at + chrono::TimeDelta::from_std(WINDOW + SETTLE)?;
    if let Ok(wait) = (all_due - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let by = Utc::now() - chrono::TimeDelta::from_std(SETTLE)?;
    let log = {
        let (bootstrap, topic) = (
            bootstrap.to_owned(),
            event_store::TopicSet::new(prefix).events,
        );
        tokio::task::spawn_blocking(move || check::lifecycles(&bootstrap, &topic)).await??
    };
    let seen = tokio::task::spawn_blocking(move || watch.finish()).await?;
    let outcomes = vec![
        check::expired_exactly_once(done, &log, by),
        check::payments_judged_by_received_time(done),
        check::lateness(&seen, faults, waits, short),
    ];
    Ok((outcomes, seen))
}
