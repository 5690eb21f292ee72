//! What stands between callers and orderlog's services. Both HTTP services ask the same
//! [`Guard`] who is calling and whether they may:
//!
//! - [`token`]: a bearer JWT checked against a configured key (HS256 secret, RS256/ES256 PEM
//!   key, or a JWKS file), issuer, audience and expiry; made into a [`Principal`];
//! - [`scope`]: `orders:read`, `orders:write`, `orders:admin`;
//! - [`rate`]: a token bucket per token subject;
//! - [`dev`]: the development mode (a generated secret and a ready token on disk);
//! - [`settings`]: the one set of `ORDERLOG_AUTH_*` settings both services flatten in;
//! - [`denial`]: why a request is refused, with its status, stable code and challenge.

pub mod denial;
pub mod dev;
mod gate;
pub mod principal;
pub mod rate;
pub mod scope;
pub mod settings;
pub mod token;

pub use denial::Denial;
pub use gate::{Guard, bearer};
pub use principal::Principal;
pub use scope::{Scope, Scopes};
pub use settings::{AuthSettings, SettingsError};
