//! Why a command is refused: the caller's fault, with a stable machine code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Status;
use crate::values::{Currency, Money, Sku};

/// A refused command. `code()` is stable and documented; the HTTP status each maps to is
/// given by [`Rejection::http_status`]:
///
/// | code | HTTP |
/// | --- | --- |
/// | `order_not_found` | 404 |
/// | `line_not_found` | 404 |
/// | `order_already_exists` | 409 |
/// | `invalid_transition` | 409 |
/// | `payment_window_closed` | 409 |
/// | `order_not_modifiable` | 409 |
/// | `line_already_present` | 409 |
/// | `last_line` | 409 |
/// | `version_mismatch` | 412 |
/// | `no_lines` | 422 |
/// | `too_many_lines` | 422 |
/// | `currency_mismatch` | 422 |
/// | `payment_amount_mismatch` | 422 |
/// | `amount_too_large` | 422 |
/// | `payment_window_out_of_bounds` | 422 |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Rejection {
    #[error("no order has this id")]
    OrderNotFound,
    #[error("an order with this id already exists")]
    OrderAlreadyExists,
    #[error("{command} is not allowed while the order is {status}")]
    InvalidTransition { command: String, status: Status },
    /// A payment for an order whose payment window closed before the payment was received
    /// (the order expired): the payment provider should refund it.
    #[error(
        "the order's payment window closed at {payment_due_at}; the payment was received at {received_at}"
    )]
    PaymentWindowClosed {
        payment_due_at: DateTime<Utc>,
        received_at: DateTime<Utc>,
    },
    #[error("{command} is only allowed while the order is placed; it is {status}")]
    NotModifiable { command: String, status: Status },
    #[error("the order already has a line for SKU {sku}; remove it first to change it")]
    LineAlreadyPresent { sku: Sku },
    #[error("the order has no line for SKU {sku}")]
    LineNotFound { sku: Sku },
    #[error("an order keeps at least one line; cancel the order instead")]
    LastLine,
    #[error("an order needs at least one line")]
    NoLines,
    #[error("an order holds at most {max} lines")]
    TooManyLines { max: usize },
    #[error("the amount is in {found} but the order is in {expected}")]
    CurrencyMismatch { expected: Currency, found: Currency },
    #[error("the payment of {paid} does not match the order total of {total}")]
    PaymentAmountMismatch { total: Money, paid: Money },
    #[error("the order total would exceed the largest amount the platform handles")]
    AmountTooLarge,
    #[error("the order is at version {actual}, not the expected {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    #[error("a payment window is {min_seconds} to {max_seconds} seconds")]
    PaymentWindowOutOfBounds { min_seconds: i64, max_seconds: i64 },
}

impl Rejection {
    /// One rejection of every kind (details are placeholders), for documents that list the
    /// codes and their statuses.
    pub fn every_kind() -> Vec<Rejection> {
        let sku = Sku::parse("SKU").expect("a valid SKU");
        let currency = Currency::parse("EUR").expect("a valid currency");
        let money = Money::zero(currency);
        vec![
            Rejection::OrderNotFound,
            Rejection::OrderAlreadyExists,
            Rejection::InvalidTransition {
                command: String::new(),
                status: Status::Placed,
            },
            Rejection::PaymentWindowClosed {
                payment_due_at: DateTime::UNIX_EPOCH,
                received_at: DateTime::UNIX_EPOCH,
            },
            Rejection::NotModifiable {
                command: String::new(),
                status: Status::Placed,
            },
            Rejection::LineAlreadyPresent { sku: sku.clone() },
            Rejection::LineNotFound { sku },
            Rejection::LastLine,
            Rejection::NoLines,
            Rejection::TooManyLines { max: 0 },
            Rejection::CurrencyMismatch {
                expected: currency,
                found: currency,
            },
            Rejection::PaymentAmountMismatch {
                total: money,
                paid: money,
            },
            Rejection::AmountTooLarge,
            Rejection::VersionMismatch {
                expected: 0,
                actual: 0,
            },
            Rejection::PaymentWindowOutOfBounds {
                min_seconds: 0,
                max_seconds: 0,
            },
        ]
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::OrderNotFound => "order_not_found",
            Rejection::OrderAlreadyExists => "order_already_exists",
            Rejection::InvalidTransition { .. } => "invalid_transition",
            Rejection::PaymentWindowClosed { .. } => "payment_window_closed",
            Rejection::NotModifiable { .. } => "order_not_modifiable",
            Rejection::LineAlreadyPresent { .. } => "line_already_present",
            Rejection::LineNotFound { .. } => "line_not_found",
            Rejection::LastLine => "last_line",
            Rejection::NoLines => "no_lines",
            Rejection::TooManyLines { .. } => "too_many_lines",
            Rejection::CurrencyMismatch { .. } => "currency_mismatch",
            Rejection::PaymentAmountMismatch { .. } => "payment_amount_mismatch",
            Rejection::AmountTooLarge => "amount_too_large",
            Rejection::VersionMismatch { .. } => "version_mismatch",
            Rejection::PaymentWindowOutOfBounds { .. } => "payment_window_out_of_bounds",
        }
    }

    /// The HTTP status the command API answers this rejection with.
    pub fn http_status(&self) -> u16 {
        match self {
            Rejection::OrderNotFound | Rejection::LineNotFound { .. } => 404,
            Rejection::OrderAlreadyExists
            | Rejection::InvalidTransition { .. }
            | Rejection::PaymentWindowClosed { .. }
            | Rejection::NotModifiable { .. }
            | Rejection::LineAlreadyPresent { .. }
            | Rejection::LastLine => 409,
            Rejection::VersionMismatch { .. } => 412,
            Rejection::NoLines
            | Rejection::TooManyLines { .. }
            | Rejection::CurrencyMismatch { .. }
            | Rejection::PaymentAmountMismatch { .. }
            | Rejection::AmountTooLarge
            | Rejection::PaymentWindowOutOfBounds { .. } => 422,
        }
    }
}
