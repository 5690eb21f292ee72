//! References of payments made by the payment provider.

use serde::{Deserialize, Serialize};

use super::{TextError, text};

/// The payment provider's reference for a payment: 1 to 64 characters of printable text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PaymentReference(String);

impl PaymentReference {
    pub fn parse(value: &str) -> Result<Self, PaymentReferenceError> {
        text(value, 64).map(Self).map_err(PaymentReferenceError)
    }
}

super::string_value!(PaymentReference, PaymentReferenceError, {
    "type": "string", "minLength": 1, "maxLength": 64, "pattern": super::TEXT_PATTERN
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PaymentReferenceError(TextError);
