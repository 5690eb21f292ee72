//! Money: integer minor units and an ISO 4217 currency. No floats anywhere.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::WholeNumber;

/// The largest amount the platform handles, in minor units (10^15: ten trillion euros).
/// Totals above it are refused, so arithmetic on amounts can never overflow an `i64`.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000_000;

/// An ISO 4217 alphabetic currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(value: &str) -> Result<Self, MoneyError> {
        match value.trim().as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(MoneyError::InvalidCurrency),
        }
    }

    pub fn as_str(&self) -> &str {
        // The bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> String {
        value.as_str().to_owned()
    }
}

impl schemars::JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string", "pattern": "^[A-Z]{3}$",
            "description": "ISO 4217 alphabetic currency code"
        })
    }
}

/// A non-negative amount of money in a currency's minor units (cents for EUR and USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawMoney")]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

/// Money as it arrives, checked by `TryFrom` (and described to JSON Schema).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Money")]
struct RawMoney {
    /// Amount in minor units (cents for EUR), from 0 to 10^15.
    #[schemars(range(min = 0, max = 1_000_000_000_000_000_i64), with = "i64")]
    amount_minor: WholeNumber,
    currency: Currency,
}

impl TryFrom<RawMoney> for Money {
    type Error = MoneyError;
    fn try_from(raw: RawMoney) -> Result<Self, Self::Error> {
        Self::new(raw.amount_minor.0, raw.currency)
    }
}

impl Money {
    pub fn new(amount_minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if !(0..=MAX_AMOUNT_MINOR).contains(&amount_minor) {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    pub fn zero(currency: Currency) -> Self {
        Self {
            amount_minor: 0,
            currency,
        }
    }

    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// `self + other`, or an error when the currencies differ or the sum exceeds the maximum.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        Money::new(self.amount_minor + other.amount_minor, self.currency)
    }

    /// `self - other`, or an error when the currencies differ or the result is negative.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch);
        }
        Money::new(self.amount_minor - other.amount_minor, self.currency)
    }

    /// `self * units`, or an error when the product exceeds the maximum.
    pub fn times(self, units: u32) -> Result<Money, MoneyError> {
        // Both factors are bounded (10^15 and 2^32), so the i128 product cannot overflow.
        let product = i128::from(self.amount_minor) * i128::from(units);
        let amount = i64::try_from(product).map_err(|_| MoneyError::OutOfRange)?;
        Money::new(amount, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (minor units)", self.amount_minor, self.currency)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a three-letter upper-case ISO 4217 currency code, such as EUR")]
    InvalidCurrency,
    #[error("must be a whole number of minor units from 0 to {MAX_AMOUNT_MINOR}")]
    OutOfRange,
    #[error("currencies differ")]
    CurrencyMismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").expect("EUR")).expect("amount")
    }

    #[test]
    fn arithmetic_stays_in_bounds() {
        assert_eq!(eur(150).checked_add(eur(50)), Ok(eur(200)));
        assert_eq!(eur(50).checked_sub(eur(150)), Err(MoneyError::OutOfRange));
        assert_eq!(eur(MAX_AMOUNT_MINOR).times(2), Err(MoneyError::OutOfRange));
        assert_eq!(
            eur(MAX_AMOUNT_MINOR).times(u32::MAX),
            Err(MoneyError::OutOfRange)
        );
        let usd = Money::zero(Currency::parse("USD").expect("USD"));
        assert_eq!(eur(1).checked_add(usd), Err(MoneyError::CurrencyMismatch));
    }

    #[test]
    fn json_goes_through_the_same_checks() {
        let parsed: Money =
            serde_json::from_str(r#"{"amount_minor": 1999, "currency": "EUR"}"#).expect("money");
        assert_eq!(parsed, eur(1999));
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor": -1, "currency": "EUR"}"#).is_err()
        );
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor": 1.5, "currency": "EUR"}"#).is_err()
        );
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor": 1, "currency": "eur"}"#).is_err()
        );
    }
}
