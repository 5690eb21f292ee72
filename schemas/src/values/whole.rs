//! Whole numbers as JSON carries them: JSON has one number type, so `3` and `3.0` are the
//! same number, and JSON Schema's `integer` accepts both. A fraction is refused.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// An integer read from any JSON number without a fractional part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WholeNumber(pub i64);

/// The largest magnitude an `f64` holds exactly: past it, `3.0`-style input is refused.
const EXACT_IN_F64: f64 = 9_007_199_254_740_992.0;

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Whole;
        impl Visitor<'_> for Whole {
            type Value = WholeNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WholeNumber, E> {
                Ok(WholeNumber(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WholeNumber, E> {
                i64::try_from(v)
                    .map(WholeNumber)
                    .map_err(|_| E::custom("is too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WholeNumber, E> {
                if v.fract() == 0.0 && v.abs() <= EXACT_IN_F64 {
                    #[allow(clippy::cast_possible_truncation)]
                    Ok(WholeNumber(v as i64))
                } else {
                    Err(E::custom("must be a whole number"))
                }
            }
        }
        deserializer.deserialize_any(Whole)
    }
}

impl From<WholeNumber> for i64 {
    fn from(value: WholeNumber) -> i64 {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_without_a_fraction_is_whole_however_it_is_written() {
        for (text, value) in [("3", 3), ("3.0", 3), ("-2", -2), ("1e3", 1000)] {
            let parsed: WholeNumber = serde_json::from_str(text).expect(text);
            assert_eq!(parsed, WholeNumber(value));
        }
        for text in ["3.5", "\"3\"", "1e300", "18446744073709551615"] {
            assert!(serde_json::from_str::<WholeNumber>(text).is_err(), "{text}");
        }
    }
}
