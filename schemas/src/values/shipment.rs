//! Who carries a shipment and how to track it.

use serde::{Deserialize, Serialize};

use super::{TextError, text};

/// The carrier's name, such as `DHL`: 1 to 50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Carrier(String);

impl Carrier {
    pub fn parse(value: &str) -> Result<Self, ShipmentError> {
        text(value, 50).map(Self).map_err(ShipmentError::Carrier)
    }
}

super::string_value!(Carrier, ShipmentError, { "type": "string", "minLength": 1, "maxLength": 50, "pattern": super::TEXT_PATTERN });

/// The carrier's tracking number: 4 to 40 upper-case letters and digits (spaces and
/// dashes are dropped, lower case is raised).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingNumber(String);

impl TrackingNumber {
    pub fn parse(value: &str) -> Result<Self, ShipmentError> {
        let cleaned: String = value
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !(4..=40).contains(&cleaned.len()) || !cleaned.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(ShipmentError::TrackingNumber);
        }
        Ok(Self(cleaned))
    }
}

super::string_value!(TrackingNumber, ShipmentError, {
    "type": "string", "pattern": "^[A-Z0-9]{4,40}$"
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipmentError {
    #[error("{0}")]
    Carrier(TextError),
    #[error("must be 4 to 40 letters and digits")]
    TrackingNumber,
}
