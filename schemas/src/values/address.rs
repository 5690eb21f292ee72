//! Shipping addresses.

use serde::{Deserialize, Serialize};

use super::{TextError, text};

/// A postal address. Every field is trimmed text without control characters; the country
/// is an ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "RawAddress")]
pub struct Address {
    name: String,
    line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line2: Option<String>,
    city: String,
    postal_code: String,
    country: String,
}

/// The address as it arrives, checked by `TryFrom` (and described to JSON Schema).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Address")]
struct RawAddress {
    /// Recipient's name, 1 to 100 characters.
    #[schemars(length(min = 1, max = 100), regex(pattern = super::TEXT_PATTERN))]
    name: String,
    /// Street and number, 1 to 200 characters.
    #[schemars(length(min = 1, max = 200), regex(pattern = super::TEXT_PATTERN))]
    line1: String,
    /// Optional second line (apartment, building), up to 200 characters.
    #[serde(default)]
    #[schemars(length(max = 200), regex(pattern = super::OPTIONAL_TEXT_PATTERN))]
    line2: Option<String>,
    /// 1 to 100 characters.
    #[schemars(length(min = 1, max = 100), regex(pattern = super::TEXT_PATTERN))]
    city: String,
    /// 1 to 20 characters.
    #[schemars(length(min = 1, max = 20), regex(pattern = super::TEXT_PATTERN))]
    postal_code: String,
    /// ISO 3166-1 alpha-2 country code, such as DE.
    #[schemars(regex(pattern = r"^[A-Za-z]{2}$"))]
    country: String,
}

impl TryFrom<RawAddress> for Address {
    type Error = AddressError;
    fn try_from(raw: RawAddress) -> Result<Self, Self::Error> {
        let field = |name: &'static str, value: &str, max| {
            text(value, max).map_err(|reason| AddressError::Field {
                field: name,
                reason,
            })
        };
        let country = raw.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(AddressError::Country);
        }
        Ok(Self {
            name: field("name", &raw.name, 100)?,
            line1: field("line1", &raw.line1, 200)?,
            line2: match raw.line2.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(line2) => Some(field("line2", line2, 200)?),
            },
            city: field("city", &raw.city, 100)?,
            postal_code: field("postal_code", &raw.postal_code, 20)?,
            country,
        })
    }
}

impl Address {
    /// Builds an address from its parts, with the same checks as deserialization.
    pub fn new(
        name: &str,
        line1: &str,
        line2: Option<&str>,
        city: &str,
        postal_code: &str,
        country: &str,
    ) -> Result<Self, AddressError> {
        RawAddress {
            name: name.to_owned(),
            line1: line1.to_owned(),
            line2: line2.map(str::to_owned),
            city: city.to_owned(),
            postal_code: postal_code.to_owned(),
            country: country.to_owned(),
        }
        .try_into()
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn line1(&self) -> &str {
        &self.line1
    }
    pub fn line2(&self) -> Option<&str> {
        self.line2.as_deref()
    }
    pub fn city(&self) -> &str {
        &self.city
    }
    pub fn postal_code(&self) -> &str {
        &self.postal_code
    }
    pub fn country(&self) -> &str {
        &self.country
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{field} {reason}")]
    Field {
        field: &'static str,
        reason: TextError,
    },
    #[error("country must be an ISO 3166-1 alpha-2 code, such as DE")]
    Country,
}
