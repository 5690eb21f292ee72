//! The deadline checks once the faults have healed: every order whose window passed unpaid
//! expired exactly once and none was both paid and expired (from the committed log); no
//! payment received before its due time was refused and none received after it accepted
//! (from the answers); and how late each expiry became visible, away from the faults and
//! across them.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use schemas::Event;

use super::watch::Seen;
use super::{DeadlineRecord, Plan};
use crate::chaos::check::{Outcome, read_committed};
use crate::chaos::workload::Wait;

/// What the committed log says of one order placed with a due time.
#[derive(Debug, Default, Clone)]
pub(crate) struct Lifecycle {
    pub(crate) payment_due_at: Option<DateTime<Utc>>,
    pub(crate) paid: u32,
    pub(crate) cancelled: u32,
    pub(crate) expired: u32,
}

/// Every order of the events topic, by id, as the committed log tells it.
pub(crate) fn lifecycles(
    bootstrap: &str,
    topic: &str,
) -> anyhow::Result<HashMap<String, Lifecycle>> {
    let mut orders: HashMap<String, Lifecycle> = HashMap::new();
    read_committed(bootstrap, topic, |message| {
        let Ok(envelope) = event_store::wire::decode_event(message) else {
            return;
        };
        let order = orders.entry(envelope.order_id.to_string()).or_default();
        match envelope.event {
            Event::OrderPlaced(placed) => order.payment_due_at = placed.payment_due_at,
            Event::PaymentConfirmed(_) => order.paid += 1,
            Event::OrderCancelled(_) => order.cancelled += 1,
            Event::OrderExpired(_) => order.expired += 1,
            _ => {}
        }
    })?;
    Ok(orders)
}

/// Orders of the deadline clients whose window passed before `by`: each unpaid (and not
/// cancelled) one expired exactly once, none paid and expired.
pub(crate) fn expired_exactly_once(
    record: &DeadlineRecord,
    log: &HashMap<String, Lifecycle>,
    by: DateTime<Utc>,
) -> Outcome {
    let (mut due, mut expired, mut paid) = (0, 0, 0);
    let mut wrong = Vec::new();
    for (order_id, plan) in &record.placed {
        let order = log.get(order_id).cloned().unwrap_or_default();
        let Some(due_at) = order.payment_due_at else {
            wrong.push(format!("{order_id} ({plan:?}): no due time in the log"));
            continue;
        };
        if due_at > by {
            continue;
        }
        due += 1;
        expired += order.expired;
        paid += order.paid.min(1);
        // Exactly one way out of the payment window: paid, cancelled or expired.
        let fine = matches!(
            (order.paid, order.cancelled, order.expired),
            (0, 0, 1) | (1, 0, 0) | (0, 1, 0)
        );
        if !fine {
            wrong.push(format!(
                "{order_id} ({plan:?}): paid {}, cancelled {}, expired {}",
                order.paid, order.cancelled, order.expired
            ));
        }
    }
    Outcome {
        name: "every order whose payment window passed unpaid expired exactly once; none both paid and expired",
        passed: wrong.is_empty() && expired > 0 && paid > 0,
        detail: format!(
            "{due} orders past their 60 s window: {expired} expired, {paid} paid; {} wrong{}",
            wrong.len(),
            first_few(&wrong)
        ),
    }
}

/// Every refused payment says it was received at or after its due time; every payment sent
/// after the latest the window could close was refused.
pub(crate) fn payments_judged_by_received_time(record: &DeadlineRecord) -> Outcome {
    let mut wrong = Vec::new();
    let mut tally: std::collections::BTreeMap<String, u32> = Default::default();
    for payment in &record.payments {
        let accepted = (200..300).contains(&payment.status);
        let rejection = &payment.answer["rejection"];
        let code = payment.answer["code"].as_str().unwrap_or("?");
        let times = (
            time(&rejection["payment_due_at"]),
            time(&rejection["received_at"]),
        );
        let judged = match (accepted, code, times) {
            (true, _, _) => payment.plan != Plan::JustAfter,
            (false, "payment_window_closed", (Some(due), Some(received))) => received >= due,
            _ => false,
        };
        if !judged {
            wrong.push(format!(
                "{} ({:?}, sent {}): {} {}",
                payment.order_id, payment.plan, payment.sent_at, payment.status, payment.answer
            ));
        }
        let outcome = if accepted { "accepted" } else { "refused" };
        *tally
            .entry(format!("{:?} {outcome}", payment.plan))
            .or_default() += 1;
    }
    let count = |key: &str| tally.get(key).copied().unwrap_or_default();
    let tally: Vec<String> = tally.iter().map(|(k, n)| format!("{k} {n}")).collect();
    Outcome {
        name: "no payment received before its order's due time refused; none received after it accepted",
        passed: wrong.is_empty()
            && count("JustBefore accepted") > 0
            && count("JustAfter refused") > 0,
        detail: format!(
            "{} (JustBefore: sent 300 ms before the earliest due time, AtDue: 20 ms before, JustAfter: 300 ms after the latest; each refusal received at or after its due time); {} wrong{}",
            tally.join(", "),
            wrong.len(),
            first_few(&wrong)
        ),
    }
}

/// A fault from its injection until commands flowed again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
}

/// The longest a command waited because of `fault`: from the fault's start (or its send,
/// if later) to its answer, over commands in flight during the fault. This is the fault's
/// takeover time as the clients saw it.
pub(crate) fn longest_wait(fault: Span, waits: &[Wait]) -> TimeDelta {
    waits
        .iter()
        .filter(|w| w.sent <= fault.end && w.answered >= fault.start)
        .map(|w| w.answered - w.sent.max(fault.start))
        .max()
        .unwrap_or_default()
}

/// The expiries due within `fault`'s reach (its start until its end plus its longest
/// command wait) and the latest of them: how many, and how late.
pub(crate) fn fault_lateness(fault: Span, wait: TimeDelta, seen: &[Seen]) -> (usize, TimeDelta) {
    let late: Vec<TimeDelta> = seen
        .iter()
        .filter(|e| e.payment_due_at >= fault.start && e.payment_due_at <= fault.end + wait)
        .map(|e| e.visible_at - e.payment_due_at)
        .collect();
    (late.len(), late.iter().copied().max().unwrap_or_default())
}

/// How late each expiry became visible after its due time: p99 at most 1 s for those due
/// away from any fault, and for those across a fault at most that fault's longest command
/// wait plus 1 s; none visible before its due time.
pub(crate) fn lateness(seen: &[Seen], faults: &[Span], waits: &[Wait], short: bool) -> Outcome {
    let second = TimeDelta::seconds(1);
    let reach: Vec<(Span, TimeDelta)> = faults
        .iter()
        .map(|&fault| (fault, longest_wait(fault, waits)))
        .collect();
    let (mut quiet, mut across, mut excess) = (Vec::new(), Vec::new(), Vec::new());
    let mut early = 0;
    for expiry in seen {
        let late = expiry.visible_at - expiry.payment_due_at;
        if late < TimeDelta::zero() {
            early += 1;
        }
        // Faults whose reach (start to end plus its longest wait) overlaps due..visible.
        let touched = reach.iter().filter(|(fault, wait)| {
            fault.start <= expiry.visible_at && fault.end + *wait >= expiry.payment_due_at
        });
        match touched.map(|(_, wait)| *wait).max() {
            None => quiet.push(late),
            Some(wait) => {
                across.push(late);
                excess.push(late - wait);
            }
        }
    }
    let (quiet_p99, excess_p99) = (p99(&mut quiet), p99(&mut excess));
    let longest = reach
        .iter()
        .map(|(_, wait)| *wait)
        .max()
        .unwrap_or_default();
    let slowest = seen
        .iter()
        .max_by_key(|e| e.visible_at - e.payment_due_at)
        .map_or("none", |e| e.order_id.as_str());
    let within = quiet_p99 <= second && excess_p99 <= second;
    Outcome {
        name: "deadline lateness (due time to visible to a read_committed reader): p99 at most 1 s away from faults, at most the fault's takeover time plus 1 s across them",
        passed: early == 0 && !quiet.is_empty() && (within || short),
        detail: format!(
            "{}{} expiries away from faults: p50 {}, p99 {}, max {}; {} across faults: p50 {}, p99 {}, max {} (p99 beyond the fault's takeover time {}; longest takeover {}); {early} visible before due; slowest: order {slowest}",
            match short {
                true => "reported, not held to the bounds in the short run (debug binaries); ",
                false => "",
            },
            quiet.len(),
            secs(p(&quiet, 50)),
            secs(quiet_p99),
            secs(quiet.last().copied().unwrap_or_default()),
            across.len(),
            secs(p(&sorted(across.clone()), 50)),
            secs(p99(&mut across)),
            secs(across.last().copied().unwrap_or_default()),
            secs(excess_p99),
            secs(longest),
        ),
    }
}

fn sorted(mut values: Vec<TimeDelta>) -> Vec<TimeDelta> {
    values.sort();
    values
}

/// Sorts `values` and returns their 99th percentile (zero when empty).
fn p99(values: &mut [TimeDelta]) -> TimeDelta {
    values.sort();
    p(values, 99)
}

/// The `percent`th percentile of sorted `values`, nearest rank.
fn p(values: &[TimeDelta], percent: usize) -> TimeDelta {
    let rank = (values.len() * percent).div_ceil(100).max(1);
    values.get(rank - 1).copied().unwrap_or_default()
}

fn secs(delta: TimeDelta) -> String {
    let ms = delta.num_milliseconds();
    format!(
        "{}{}.{:03} s",
        if ms < 0 { "-" } else { "" },
        ms.abs() / 1000,
        ms.abs() % 1000
    )
}

fn time(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.with_timezone(&Utc))
}

fn first_few(wrong: &[String]) -> String {
    if wrong.is_empty() {
        return String::new();
    }
    format!(
        ": {}",
        wrong.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::seconds(seconds)
    }

    fn expiry(due: i64, visible_ms: i64) -> Seen {
        Seen {
            order_id: String::new(),
            payment_due_at: at(due),
            visible_at: at(due) + TimeDelta::milliseconds(visible_ms),
        }
    }

    #[test]
    fn an_expiry_late_away_from_faults_fails_and_one_within_the_takeover_passes() {
        let fault = Span {
            start: at(100),
            end: at(101),
        };
        // A command sent at 99 s waited until 108 s: an 8 s takeover as the clients saw it.
        let waits = [Wait {
            sent: at(99),
            answered: at(108),
        }];
        let mut seen: Vec<Seen> = (0..50).map(|n| expiry(n, 600)).collect();
        seen.push(expiry(100, 8_500));
        assert!(lateness(&seen, &[fault], &waits, false).passed);
        // The same expiry 1.5 s beyond the takeover fails the bound across faults...
        let mut beyond = seen.clone();
        beyond.push(expiry(100, 9_600));
        beyond.push(expiry(100, 9_600));
        assert!(!lateness(&beyond, &[fault], &waits, false).passed);
        // The short run reports it without holding it to the bounds.
        assert!(lateness(&beyond, &[fault], &waits, true).passed);
        // ...and without the fault it counts as quiet and fails there.
        let slow: Vec<Seen> = (0..50).map(|n| expiry(n, 1_200)).collect();
        assert!(!lateness(&slow, &[], &[], false).passed);
        // Fired before due is never right.
        let mut early = seen;
        early.push(expiry(10, -5));
        assert!(!lateness(&early, &[fault], &waits, true).passed);
    }

    fn payment(plan: Plan, status: u16, received_ms: i64) -> super::super::Payment {
        let answer = match status {
            201 => serde_json::json!({"events": []}),
            _ => serde_json::json!({"code": "payment_window_closed", "rejection": {
                "payment_due_at": at(60).to_rfc3339(),
                "received_at": (at(60) + TimeDelta::milliseconds(received_ms)).to_rfc3339(),
            }}),
        };
        super::super::Payment {
            order_id: String::new(),
            plan,
            sent_at: at(60),
            status,
            answer,
        }
    }

    #[test]
    fn a_payment_refused_though_received_before_due_or_accepted_after_it_fails_the_check() {
        let fine = DeadlineRecord {
            payments: vec![
                payment(Plan::JustBefore, 201, 0),
                payment(Plan::AtDue, 409, 5),
                payment(Plan::JustAfter, 409, 300),
            ],
            ..DeadlineRecord::default()
        };
        assert!(payments_judged_by_received_time(&fine).passed);
        for wrong in [
            payment(Plan::AtDue, 409, -5),
            payment(Plan::JustAfter, 201, 0),
        ] {
            let mut record = DeadlineRecord {
                payments: fine.payments.clone(),
                ..DeadlineRecord::default()
            };
            record.payments.push(wrong);
            assert!(!payments_judged_by_received_time(&record).passed);
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<TimeDelta> = (1..=100).map(TimeDelta::milliseconds).collect();
        assert_eq!(p(&values, 99), TimeDelta::milliseconds(99));
        assert_eq!(p(&values, 50), TimeDelta::milliseconds(50));
        assert_eq!(p(&[], 99), TimeDelta::zero());
    }
}
