//! Who the tests are: the services under test accept HS256 tokens signed with [`SECRET`],
//! and the tests' clients send [`authorization`] (every scope) unless a test means to be
//! someone else.

use std::time::Duration;

use guard::token::Mint;
use guard::{AuthSettings, Scope};

/// The HS256 secret of the services under test.
pub const SECRET: &str = "orderlog-tests-hs256-secret-0123456789abcdef";

/// The settings a service under test runs with.
pub fn settings() -> AuthSettings {
    AuthSettings::hs256(SECRET)
}

/// The environment that gives a spawned service binary the same settings.
pub fn env() -> [(&'static str, &'static str); 1] {
    [("ORDERLOG_AUTH_HS256_SECRET", SECRET)]
}

/// A token of `subject` with `scopes`, for `customer` when given.
pub fn token(subject: &str, scopes: &[Scope], customer: Option<&str>) -> String {
    let mint = Mint {
        issuer: "orderlog".into(),
        audience: "orderlog".into(),
        subject: subject.into(),
        scopes: scopes.to_vec(),
        customer: customer.map(str::to_owned),
        ttl: Duration::from_secs(3600),
    };
    mint.hs256(SECRET.as_bytes()).unwrap_or_default()
}

/// `Bearer <token>` with every scope and the right claims, signed with a secret the
/// services do not know: refused as a bad signature.
pub fn forged_authorization() -> String {
    let token = Mint::all_scopes("orderlog", "orderlog", "forger", Duration::from_secs(60))
        .hs256(b"not the services' secret, but 32 bytes long")
        .unwrap_or_default();
    format!("Bearer {token}")
}

/// `Bearer <token>` with every scope: what the tests' clients send by default.
pub fn authorization() -> String {
    format!("Bearer {}", token("tests", &Scope::ALL, None))
}
