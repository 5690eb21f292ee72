//! Stock keeping units.

use serde::{Deserialize, Serialize};

/// A product's SKU: 1 to 32 characters, upper-case letters, digits and `-`, starting with a
/// letter or digit. Input is upper-cased, so `abc-1` and `ABC-1` are the same SKU.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    pub const MAX_LEN: usize = 32;

    pub fn parse(value: &str) -> Result<Self, SkuError> {
        let value = value.trim().to_ascii_uppercase();
        if value.is_empty() {
            return Err(SkuError::Blank);
        }
        if value.len() > Self::MAX_LEN {
            return Err(SkuError::TooLong { max: Self::MAX_LEN });
        }
        if value.starts_with('-') || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(SkuError::InvalidCharacter);
        }
        Ok(Self(value))
    }
}

super::string_value!(Sku, SkuError, {
    "type": "string", "minLength": 1, "maxLength": 32, "pattern": "^[A-Z0-9][A-Z0-9-]*$"
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkuError {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("may contain only letters, digits and '-', and must not start with '-'")]
    InvalidCharacter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(
            Sku::parse(" abc-1 ").map(String::from),
            Ok("ABC-1".to_owned())
        );
    }

    #[test]
    fn refuses_what_is_not_a_sku() {
        assert_eq!(Sku::parse(""), Err(SkuError::Blank));
        assert_eq!(Sku::parse("-A"), Err(SkuError::InvalidCharacter));
        assert_eq!(Sku::parse("A B"), Err(SkuError::InvalidCharacter));
        assert_eq!(
            Sku::parse(&"A".repeat(33)),
            Err(SkuError::TooLong { max: 32 })
        );
    }
}
