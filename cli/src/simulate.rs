//! `orderlog simulate`: the log's history replayed with another payment window, on a virtual
//! clock. Each order placed in the range is followed through its events (their times,
//! `ce_time`); with the window asked for, it would have expired at its placing time plus
//! the window if by then it was neither paid nor cancelled. The report counts those orders
//! and their totals per currency, and lists the orders that were paid after that shorter
//! window would have closed (sales the window would have lost). Orders whose simulated due
//! time lies past the end of the log are undecided. The real expiries are the real
//! window's: they do not count here. Pure: the scan feeds [`Simulation::observe`].

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use schemas::Event;
use serde::Serialize;

/// What the simulation keeps of one order.
#[derive(Debug, Clone, Default)]
struct Followed {
    placed_at: Option<DateTime<Utc>>,
    currency: String,
    /// The order's total after each event that set it, in time order.
    totals: Vec<(DateTime<Utc>, i64)>,
    paid_at: Option<DateTime<Utc>>,
    /// Cancelled or expired (by the real window): it could not be paid after this.
    closed_at: Option<DateTime<Utc>>,
}

/// The orders seen so far.
#[derive(Debug, Default)]
pub struct Simulation {
    orders: HashMap<String, Followed>,
    /// The latest event time seen: the virtual clock stops there.
    end: Option<DateTime<Utc>>,
}

/// An order paid after the simulated window would have closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatePayment {
    pub order_id: String,
    pub placed_at: DateTime<Utc>,
    pub paid_at: DateTime<Utc>,
    pub total_minor: i64,
    pub currency: String,
}

/// What the window would have done.
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub payment_window_seconds: i64,
    /// Orders placed in the range.
    pub orders: u64,
    /// Orders that would have expired, and their totals, per currency.
    pub would_expire: u64,
    pub would_expire_minor_by_currency: BTreeMap<String, i64>,
    /// Orders placed too close to the end of the log for the window to have closed.
    pub undecided: u64,
    /// Of those that would have expired, the ones paid later in fact.
    pub paid_after_window: Vec<LatePayment>,
    /// Records that are not events this version reads (skipped, counted).
    pub unreadable: u64,
}

impl Simulation {
    /// One event of `order_id` at `at`; `placed` says whether the order was placed in the
    /// simulated range (orders placed before it are not followed).
    pub fn observe(&mut self, order_id: &str, event: &Event, at: DateTime<Utc>, in_range: bool) {
        self.end = self.end.max(Some(at));
        if let Event::OrderPlaced(placed) = event {
            if !in_range {
                return;
            }
            let followed = self.orders.entry(order_id.to_owned()).or_default();
            followed.placed_at = Some(at);
            followed.currency = placed.currency.to_string();
            followed
                .totals
                .push((at, placed.order_total.amount_minor()));
            return;
        }
        let Some(followed) = self.orders.get_mut(order_id) else {
            return;
        };
        match event {
            Event::LineAdded(added) => followed.totals.push((at, added.order_total.amount_minor())),
            Event::LineRemoved(removed) => {
                followed
                    .totals
                    .push((at, removed.order_total.amount_minor()));
            }
            Event::PaymentConfirmed(_) => followed.paid_at = followed.paid_at.or(Some(at)),
            Event::OrderCancelled(_) | Event::OrderExpired(_) => {
                followed.closed_at = followed.closed_at.or(Some(at));
            }
            _ => {}
        }
    }

    /// The report for a payment window of `window`.
    pub fn report(&self, window: Duration) -> Report {
        let mut report = Report {
            payment_window_seconds: window.num_seconds(),
            ..Report::default()
        };
        let end = self.end.unwrap_or_else(Utc::now);
        let mut ids: Vec<&String> = self.orders.keys().collect();
        ids.sort();
        for id in ids {
            let order = &self.orders[id];
            let Some(placed_at) = order.placed_at else {
                continue;
            };
            report.orders += 1;
            let due = placed_at + window;
            let paid_in_time = order.paid_at.is_some_and(|paid| paid <= due);
            let closed_in_time = order.closed_at.is_some_and(|closed| closed <= due);
            if paid_in_time || closed_in_time {
                continue;
            }
            if due > end {
                report.undecided += 1;
                continue;
            }
            let total = order
                .totals
                .iter()
                .take_while(|(at, _)| *at <= due)
                .last()
                .map_or(0, |(_, total)| *total);
            report.would_expire += 1;
            *report
                .would_expire_minor_by_currency
                .entry(order.currency.clone())
                .or_default() += total;
            if let Some(paid_at) = order.paid_at {
                report.paid_after_window.push(LatePayment {
                    order_id: id.clone(),
                    placed_at,
                    paid_at,
                    total_minor: total,
                    currency: order.currency.clone(),
                });
            }
        }
        report
            .paid_after_window
            .sort_by(|a, b| (a.placed_at, &a.order_id).cmp(&(b.placed_at, &b.order_id)));
        report
    }
}

impl Report {
    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = format!(
            "with a payment window of {} s, of {} orders placed in the range:\n  {} would have expired",
            self.payment_window_seconds, self.orders, self.would_expire
        );
        for (currency, minor) in &self.would_expire_minor_by_currency {
            out.push_str(&format!(", {currency} {minor} (minor units)"));
        }
        out.push_str(&format!(
            "\n  {} placed too close to the end of the log to tell\n  {} of those that would have expired paid later:\n",
            self.undecided,
            self.paid_after_window.len()
        ));
        if self.unreadable > 0 {
            out.push_str(&format!(
                "  ({} unreadable records skipped)\n",
                self.unreadable
            ));
        }
        for late in &self.paid_after_window {
            out.push_str(&format!(
                "    {}  placed {}  paid {}  {} {}\n",
                late.order_id,
                late.placed_at.to_rfc3339(),
                late.paid_at.to_rfc3339(),
                late.currency,
                late.total_minor
            ));
        }
        out
    }
}

/// Scans the range and the rest of the log after it (a payment may come later).
pub fn run(ctx: &crate::Context, args: &crate::args::SimulateArgs) -> anyhow::Result<Report> {
    use rdkafka::Message;

    use crate::bound::{Bound, check_range};
    use crate::scan::Log;

    let window = schemas::order::deadline::parse_duration(&args.payment_window)
        .map_err(anyhow::Error::msg)?;
    let now = Utc::now();
    let from = Bound::parse(&args.from, now)?;
    let to = Bound::parse(&args.to, now)?;
    check_range(from, to).map_err(anyhow::Error::msg)?;
    let log = Log::open(&ctx.kafka, ctx.timeout)?;
    let ranges = log.ranges(from, Some(Bound::End), false)?;
    // Where the range ends in each partition: orders placed before it are followed.
    let stops: HashMap<i32, Option<i64>> = log
        .ranges(from, Some(to), false)?
        .iter()
        .map(|range| (range.partition, range.end))
        .collect();
    let mut simulation = Simulation::default();
    let mut unreadable = 0_u64;
    log.read_to_end(&ranges, |message| {
        let Ok(envelope) = event_store::wire::decode_event(message) else {
            unreadable += 1;
            return Ok(());
        };
        let at = envelope.occurred_at;
        let in_range = stops
            .get(&message.partition())
            .copied()
            .flatten()
            .is_none_or(|end| message.offset() < end)
            && from.time().is_none_or(|from| at >= from)
            && to.time().is_none_or(|to| at < to);
        let order = envelope.order_id.to_string();
        simulation.observe(&order, &envelope.event, at, in_range);
        Ok(())
    })?;
    let mut report = simulation.report(window);
    report.unreadable = unreadable;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use schemas::event::{OrderCancelled, OrderPlaced, PaymentConfirmed};

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("time")
    }

    fn placed(total: i64) -> Event {
        Event::OrderPlaced(
            serde_json::from_value::<OrderPlaced>(serde_json::json!({
                "customer_id": "c", "currency": "EUR", "lines": [],
                "shipping_address": { "name": "A", "line1": "1", "city": "B", "postal_code": "1", "country": "DE" },
                "order_total": { "amount_minor": total, "currency": "EUR" }
            }))
            .expect("placed"),
        )
    }

    fn paid() -> Event {
        Event::PaymentConfirmed(
            serde_json::from_value::<PaymentConfirmed>(serde_json::json!({
                "payment_reference": "p", "amount": { "amount_minor": 1, "currency": "EUR" }
            }))
            .expect("paid"),
        )
    }

    fn cancelled() -> Event {
        Event::OrderCancelled(
            serde_json::from_value::<OrderCancelled>(serde_json::json!({ "reason": "r" }))
                .expect("cancelled"),
        )
    }

    #[test]
    fn an_order_unpaid_and_open_when_the_window_closes_would_have_expired() {
        let mut simulation = Simulation::default();
        simulation.observe("paid-late", &placed(100), at(0), true);
        simulation.observe("paid-in-time", &placed(200), at(0), true);
        simulation.observe("never-paid", &placed(300), at(10), true);
        simulation.observe("cancelled", &placed(400), at(10), true);
        simulation.observe("before-range", &placed(500), at(0), false);
        simulation.observe("paid-in-time", &paid(), at(50), true);
        simulation.observe("cancelled", &cancelled(), at(20), true);
        simulation.observe("paid-late", &paid(), at(90), true);
        simulation.observe("before-range", &paid(), at(500), true);
        simulation.observe("too-recent", &placed(600), at(450), true);

        let report = simulation.report(Duration::seconds(60));
        assert_eq!(
            report.orders, 5,
            "the order placed before the range is not followed"
        );
        assert_eq!(report.would_expire, 2, "{report:?}");
        assert_eq!(report.would_expire_minor_by_currency["EUR"], 400);
        assert_eq!(report.undecided, 1, "placed 50 s before the log's end");
        assert_eq!(
            report.paid_after_window,
            vec![LatePayment {
                order_id: "paid-late".to_owned(),
                placed_at: at(0),
                paid_at: at(90),
                total_minor: 100,
                currency: "EUR".to_owned(),
            }]
        );
        let longer = simulation.report(Duration::seconds(100));
        assert_eq!(
            (longer.would_expire, longer.undecided),
            (1, 1),
            "{longer:?}"
        );
        assert!(longer.text().contains("1 would have expired, EUR 300"));
    }
}
