//! The [`Guard`] each service holds: who is calling (the bearer token), whether they may
//! (the scope), and whether they may now (their rate limit).

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, header};

use crate::denial::Denial;
use crate::principal::Principal;
use crate::rate::RateLimiter;
use crate::scope::Scope;
use crate::settings::{AuthSettings, SettingsError};
use crate::token::Verifier;

#[derive(Clone)]
pub struct Guard {
    verifier: Arc<Verifier>,
    rate: Arc<RateLimiter>,
}

impl Guard {
    /// The guard `settings` describe; in the development mode, its files prepared first.
    pub fn new(settings: &AuthSettings) -> Result<Self, SettingsError> {
        crate::dev::prepare(settings)?;
        Ok(Self {
            verifier: Arc::new(settings.verifier()?),
            rate: Arc::new(RateLimiter::new(
                settings.rate_limit_per_s,
                settings.rate_limit_burst,
            )),
        })
    }

    /// The caller of a request with `scope`, counted against their rate limit.
    pub fn admit(&self, headers: &HeaderMap, scope: Scope) -> Result<Principal, Denial> {
        let token = bearer(headers)?;
        self.admit_token(token, scope)
    }

    /// The same for a token that came another way (a WebSocket's `connection_init`).
    pub fn admit_token(&self, token: &str, scope: Scope) -> Result<Principal, Denial> {
        let checked = self.verifier.verify(token).and_then(|principal| {
            if !principal.may(scope) {
                return Err(Denial::Forbidden(scope));
            }
            self.rate
                .check(&principal.subject, Instant::now())
                .map_err(|retry_after_s| Denial::RateLimited { retry_after_s })?;
            Ok(principal)
        });
        if let Err(denial) = &checked {
            metrics::counter!("orderlog_auth_denials_total", "code" => denial.code()).increment(1);
        }
        checked
    }

    /// Whether the request carries a token with `scope` (for answers that say more to
    /// operators, such as readiness details). Not rate limited.
    pub fn allows(&self, headers: &HeaderMap, scope: Scope) -> bool {
        bearer(headers)
            .and_then(|token| self.verifier.verify(token))
            .is_ok_and(|p| p.may(scope))
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Result<&str, Denial> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(Denial::Missing)?
        .to_str()
        .map_err(|_| Denial::Invalid("malformed"))?;
    let (scheme, token) = value.split_once(' ').ok_or(Denial::Invalid("malformed"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Denial::Invalid("not a bearer token"));
    }
    Ok(token.trim())
}
