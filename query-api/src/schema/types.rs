//! The small value types of the schema.

use async_graphql::{
    Enum, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};
use chrono::NaiveDate;
use serde::Deserialize;

/// A signed integer, serialized as a JSON number. Amounts in minor units are at most 10^15
/// per order, well inside the 2^53 that JavaScript numbers hold exactly; sums over many
/// orders (sales reports, lifetime values) can pass 2^63, and are then a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long(pub i128);

impl From<i64> for Long {
    fn from(value: i64) -> Self {
        Long(i128::from(value))
    }
}

impl Long {
    /// The value as a 64-bit integer, clamped (inputs are parsed as 64-bit integers).
    pub fn saturating_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(if self.0 < 0 { i64::MIN } else { i64::MAX })
    }

    /// A sum as PostgreSQL's `numeric` prints it (`::text`).
    pub fn parse_sum(text: &str) -> Result<Self, crate::errors::ApiError> {
        text.parse().map(Long).map_err(|_| {
            tracing::error!(text, "a sum of money that is not a whole number");
            crate::errors::ApiError::Internal
        })
    }
}

#[Scalar(name = "Long")]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_i64()
                .map(Long::from)
                .ok_or_else(|| InputValueError::custom("not a 64-bit integer")),
            Value::String(s) => s
                .parse()
                .map(Long)
                .map_err(|_| InputValueError::custom("not a 64-bit integer")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        match i64::try_from(self.0) {
            Ok(small) => Value::Number(small.into()),
            Err(_) => Value::String(self.0.to_string()),
        }
    }
}

/// A calendar day, ISO 8601 `YYYY-MM-DD`. The sales reports count UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar day, ISO 8601 `YYYY-MM-DD` (the sales reports count UTC days).
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| {
                    InputValueError::custom(format!("`{s}` is not a date like 2026-11-23"))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An amount of money: integer minor units (cents for EUR) and an ISO 4217 currency.
#[derive(Debug, Clone, SimpleObject)]
pub struct Money {
    pub minor_units: Long,
    pub currency: String,
}

impl Money {
    pub fn new(minor_units: impl Into<Long>, currency: &str) -> Self {
        Self {
            minor_units: minor_units.into(),
            currency: currency.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum OrderStatus {
    Placed,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    /// Its payment window passed unpaid.
    Expired,
}

impl OrderStatus {
    pub fn as_db(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        [
            Self::Placed,
            Self::Paid,
            Self::Shipped,
            Self::Delivered,
            Self::Cancelled,
            Self::Expired,
        ]
        .into_iter()
        .find(|s| s.as_db() == value)
    }
}

/// A shipping address as the order holds it.
#[derive(Debug, Clone, Deserialize, SimpleObject)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_is_a_number_within_64_bits_and_a_string_of_digits_beyond() {
        assert_eq!(Long::from(42).to_value(), Value::Number(42.into()));
        let big = Long(9_300_000_000_000_000_000);
        assert_eq!(
            big.to_value(),
            Value::String("9300000000000000000".to_owned())
        );
        assert_eq!(Long::parse_sum("9300000000000000000").ok(), Some(big));
        assert!(Long::parse_sum("1.5").is_err());
        assert_eq!(big.saturating_i64(), i64::MAX);
    }
}
