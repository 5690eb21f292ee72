//! How long a PlaceOrder asks its payment window to be, in seconds.

use serde::{Deserialize, Serialize};

use super::WholeNumber;

/// A payment window asked for: 60 seconds to 90 days (the platform's own window bounds it
/// further when the order is decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "WholeNumber", into = "u32")]
pub struct WindowSeconds(u32);

impl WindowSeconds {
    pub const MIN: u32 = 60;
    pub const MAX: u32 = 90 * 86_400;

    pub fn new(value: i64) -> Result<Self, WindowError> {
        match u32::try_from(value) {
            Ok(seconds) if (Self::MIN..=Self::MAX).contains(&seconds) => Ok(Self(seconds)),
            _ => Err(WindowError::OutOfRange {
                min: Self::MIN,
                max: Self::MAX,
            }),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<WholeNumber> for WindowSeconds {
    type Error = WindowError;
    fn try_from(value: WholeNumber) -> Result<Self, Self::Error> {
        Self::new(value.0)
    }
}

impl From<WindowSeconds> for u32 {
    fn from(value: WindowSeconds) -> u32 {
        value.0
    }
}

impl schemars::JsonSchema for WindowSeconds {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WindowSeconds".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": 60, "maximum": 7_776_000 })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("must be a whole number of seconds from {min} to {max}")]
    OutOfRange { min: u32, max: u32 },
}
