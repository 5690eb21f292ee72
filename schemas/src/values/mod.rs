//! Value types that cannot hold invalid values: each has a `parse` (or `new`) that says
//! precisely what is wrong, and deserialization goes through it.

mod address;
mod ids;
mod money;
mod payment;
mod quantity;
mod shipment;
mod sku;
mod whole;
mod window;

pub use address::{Address, AddressError};
pub use ids::{CustomerId, IdError, OrderId};
pub use money::{Currency, MAX_AMOUNT_MINOR, Money, MoneyError};
pub use payment::{PaymentReference, PaymentReferenceError};
pub use quantity::{Quantity, QuantityError};
pub use shipment::{Carrier, ShipmentError, TrackingNumber};
pub use sku::{Sku, SkuError};
pub use whole::WholeNumber;
pub use window::{WindowError, WindowSeconds};

/// Implements `Display`, `TryFrom<String>`, `From<T> for String` and a string JSON Schema
/// with the given constraints for a newtype over `String` that has a `parse` function.
macro_rules! string_value {
    ($name:ident, $error:ty, $schema:tt) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}
pub(crate) use string_value;

/// The JSON Schema pattern of [`text`]: no control character anywhere, and at least one
/// character that is not white space (what is left after trimming must not be blank).
pub const TEXT_PATTERN: &str =
    r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$";

/// The JSON Schema pattern of optional text: no control character.
pub const OPTIONAL_TEXT_PATTERN: &str = r"^[^\x00-\x1F\x7F-\x9F]*$";

/// Trims and checks a free-text field: not blank, at most `max` characters, no control characters.
pub(crate) fn text(value: &str, max: usize) -> Result<String, TextError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(TextError::Blank);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
}
