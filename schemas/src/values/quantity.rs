//! How many units of a SKU a line holds.

use serde::{Deserialize, Serialize};

use super::WholeNumber;

/// A line quantity: 1 to 10,000 units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "WholeNumber", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 10_000;

    pub fn new(value: i64) -> Result<Self, QuantityError> {
        match u32::try_from(value) {
            Ok(units) if (1..=Self::MAX).contains(&units) => Ok(Self(units)),
            _ => Err(QuantityError::OutOfRange { max: Self::MAX }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<WholeNumber> for Quantity {
    type Error = QuantityError;
    fn try_from(value: WholeNumber) -> Result<Self, Self::Error> {
        Self::new(value.0)
    }
}

impl From<Quantity> for u32 {
    fn from(value: Quantity) -> u32 {
        value.0
    }
}

impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": 1, "maximum": 10000 })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("must be a whole number from 1 to {max}")]
    OutOfRange { max: u32 },
}
