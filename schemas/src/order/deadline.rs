//! Deadlines: what happens when nothing happens. A placed order has a payment window; when
//! it passes unpaid, the order expires (`OrderExpired`, cause `payment_timeout`). A paid
//! order has a shipping promise; when it passes unshipped, the order is flagged once
//! (`ShipmentOverdue`). The due times are set by the events that open them (`OrderPlaced`,
//! `PaymentConfirmed`) from the time the command was received, and kept in the order's
//! state. Orders placed (or paid) before deadlines existed carry none: their old events are
//! upcast without a due time, so no history expires on the first takeover after an upgrade.
//!
//! Pure: the clock is an argument. Whoever owns the order fires a deadline with [`fire`]
//! once the time of every command received before it has passed ("stream time").

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::state::{OrderState, Status};
use crate::event::{Event, ExpiryCause, OrderExpired, ShipmentOverdue};
use crate::values::WindowSeconds;

/// The shortest payment window a PlaceOrder may ask for.
pub const MIN_PAYMENT_WINDOW: Duration = Duration::seconds(60);

/// The windows the platform grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// From placing to expiry when unpaid (`ORDERLOG_PAYMENT_WINDOW`); a PlaceOrder may ask
    /// for a shorter one, down to [`MIN_PAYMENT_WINDOW`].
    pub payment_window: Duration,
    /// From payment to the shipping promise (`ORDERLOG_SHIP_WITHIN`).
    pub ship_within: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            payment_window: Duration::minutes(30),
            ship_within: Duration::hours(48),
        }
    }
}

/// When a command is decided: the time it was received and the platform's windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub now: DateTime<Utc>,
    pub policy: Policy,
}

impl Context {
    /// At `now`, under the default windows.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            policy: Policy::default(),
        }
    }
}

/// Which deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// A placed order's payment window closes: it expires.
    PaymentDue,
    /// A paid order's shipping promise passes: it is flagged overdue.
    ShipBy,
}

impl DeadlineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::PaymentDue => "payment_due",
            DeadlineKind::ShipBy => "ship_by",
        }
    }
}

/// An order's next deadline: what, when, and the order's version when it was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub at: DateTime<Utc>,
}

/// The deadline `state` waits for, if any: a placed order's payment window, a paid order's
/// shipping promise (until flagged). None for orders without due times.
pub fn pending(state: &OrderState) -> Option<Deadline> {
    let order = state.order()?;
    match order.status {
        Status::Placed => order.payment_due_at.map(|at| Deadline {
            kind: DeadlineKind::PaymentDue,
            at,
        }),
        Status::Paid if !order.overdue => order.ship_by.map(|at| Deadline {
            kind: DeadlineKind::ShipBy,
            at,
        }),
        _ => None,
    }
}

/// The events of `deadline` for an order in `state` at stream time `now`: `None` when it is
/// not due yet or no longer applies (the order was paid, shipped, cancelled, or the due
/// time moved), so firing a deadline twice, or late, or after the race was lost, does
/// nothing.
pub fn fire(state: &OrderState, deadline: Deadline, now: DateTime<Utc>) -> Option<Vec<Event>> {
    if now < deadline.at || pending(state) != Some(deadline) {
        return None;
    }
    Some(vec![match deadline.kind {
        DeadlineKind::PaymentDue => Event::OrderExpired(OrderExpired {
            cause: ExpiryCause::PaymentTimeout,
            payment_due_at: deadline.at,
        }),
        DeadlineKind::ShipBy => Event::ShipmentOverdue(ShipmentOverdue {
            ship_by: deadline.at,
        }),
    }])
}

/// A duration as `<n>s`, `<n>m`, `<n>h` or `<n>d`: a second to a year.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let wrong = || format!("{text:?} is not a duration such as 90s, 30m, 48h or 2d");
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = digits.parse().map_err(|_| wrong())?;
    let seconds = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3_600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(wrong)?;
    if !(1..=365 * 86_400).contains(&seconds) {
        return Err(format!("{text:?}: a duration is a second to a year"));
    }
    Ok(Duration::seconds(seconds))
}

/// `after` past `now`, to the microsecond (what the events, the snapshots, PostgreSQL and
/// Parquet all hold).
pub(super) fn due(now: DateTime<Utc>, after: Duration) -> DateTime<Utc> {
    (now + after).trunc_subsecs(6)
}

/// The payment window of a PlaceOrder asking for `asked` seconds (none: the policy's), or
/// the bounds it must respect.
pub(super) fn payment_window(
    asked: Option<WindowSeconds>,
    policy: &Policy,
) -> Result<Duration, (i64, i64)> {
    let max = policy.payment_window;
    let Some(asked) = asked else {
        return Ok(max);
    };
    let asked = Duration::seconds(i64::from(asked.get()));
    let min = MIN_PAYMENT_WINDOW.min(max);
    if asked < min || asked > max {
        return Err((min.num_seconds(), max.num_seconds()));
    }
    Ok(asked)
}
