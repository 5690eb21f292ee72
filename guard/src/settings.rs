//! The `ORDERLOG_AUTH_*` and rate-limit settings, flattened into each service's config.
//! Exactly one key source is configured (an HS256 secret, a PEM public key, a JWKS file), or
//! the development mode, which makes its own secret (or, given one, uses it). With none, the service refuses to start.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use jsonwebtoken::{Algorithm, DecodingKey};
use secret::Secret;

use crate::token::{Keys, Verifier};

/// Least length of an HS256 secret, in bytes (RFC 7518: at least the hash's size).
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Args)]
pub struct AuthSettings {
    /// Development mode: sign and accept tokens with a secret generated into
    /// `<auth-dev-dir>/dev-secret`, and write a token with every scope to
    /// `<auth-dev-dir>/dev-token`. Never in production.
    #[arg(long = "auth-dev", env = "ORDERLOG_AUTH_DEV", default_value_t = false, action = clap::ArgAction::Set)]
    pub dev: bool,

    /// Where the development mode keeps its secret and token.
    #[arg(
        long = "auth-dev-dir",
        env = "ORDERLOG_AUTH_DEV_DIR",
        default_value = ".local"
    )]
    pub dev_dir: PathBuf,

    /// The `iss` every token must name.
    #[arg(
        long = "auth-issuer",
        env = "ORDERLOG_AUTH_ISSUER",
        default_value = "orderlog"
    )]
    pub issuer: String,

    /// The `aud` every token must name.
    #[arg(
        long = "auth-audience",
        env = "ORDERLOG_AUTH_AUDIENCE",
        default_value = "orderlog"
    )]
    pub audience: String,

    /// Shared secret of HS256 tokens (at least 32 bytes).
    #[arg(
        long = "auth-hs256-secret",
        env = "ORDERLOG_AUTH_HS256_SECRET",
        hide_env_values = true
    )]
    pub hs256_secret: Option<Secret>,

    /// PEM public key of RS256 or ES256 tokens (see --auth-public-key-algorithm).
    #[arg(long = "auth-public-key-file", env = "ORDERLOG_AUTH_PUBLIC_KEY_FILE")]
    pub public_key_file: Option<PathBuf>,

    /// Algorithm of the PEM public key.
    #[arg(
        long = "auth-public-key-algorithm",
        env = "ORDERLOG_AUTH_PUBLIC_KEY_ALGORITHM",
        value_enum,
        default_value = "rs256"
    )]
    pub public_key_algorithm: KeyAlgorithm,

    /// JWKS file of RS256/ES256 public keys; a token's `kid` picks its key.
    #[arg(long = "auth-jwks-file", env = "ORDERLOG_AUTH_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,

    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(
        long = "auth-leeway-s",
        env = "ORDERLOG_AUTH_LEEWAY_S",
        default_value_t = 30
    )]
    pub leeway_s: u64,

    /// Requests per second each token subject may make on average (0: no limit).
    #[arg(
        long = "rate-limit-per-s",
        env = "ORDERLOG_RATE_LIMIT_PER_S",
        default_value_t = 10_000
    )]
    pub rate_limit_per_s: u64,

    /// Requests a token subject may make at once before the average applies.
    #[arg(
        long = "rate-limit-burst",
        env = "ORDERLOG_RATE_LIMIT_BURST",
        default_value_t = 10_000
    )]
    pub rate_limit_burst: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithm {
    Rs256,
    Es256,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "no authentication is configured: set ORDERLOG_AUTH_HS256_SECRET, \
         ORDERLOG_AUTH_PUBLIC_KEY_FILE or ORDERLOG_AUTH_JWKS_FILE (with ORDERLOG_AUTH_ISSUER \
         and ORDERLOG_AUTH_AUDIENCE), or ORDERLOG_AUTH_DEV=true for local development \
         (docs/security.md)"
    )]
    Unconfigured,
    #[error(
        "more than one key source is configured ({0}); set exactly one of \
         ORDERLOG_AUTH_HS256_SECRET, ORDERLOG_AUTH_PUBLIC_KEY_FILE, ORDERLOG_AUTH_JWKS_FILE"
    )]
    Ambiguous(String),
    #[error("ORDERLOG_AUTH_HS256_SECRET must be at least {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    #[error("{path}: {reason}")]
    Key { path: String, reason: String },
    #[error("the development mode could not prepare {path}: {reason}")]
    Dev { path: String, reason: String },
}

impl AuthSettings {
    /// Settings with no key source (a service built with them refuses to start), for tests
    /// to fill in.
    pub fn unconfigured() -> Self {
        Self {
            dev: false,
            dev_dir: PathBuf::from(".local"),
            issuer: "orderlog".into(),
            audience: "orderlog".into(),
            hs256_secret: None,
            public_key_file: None,
            public_key_algorithm: KeyAlgorithm::Rs256,
            jwks_file: None,
            leeway_s: 30,
            rate_limit_per_s: 10_000,
            rate_limit_burst: 10_000,
        }
    }

    /// HS256 settings with `secret`.
    pub fn hs256(secret: &str) -> Self {
        Self {
            hs256_secret: Some(Secret::new(secret)),
            ..Self::unconfigured()
        }
    }

    /// Where the development mode keeps its secret.
    pub fn dev_secret_path(&self) -> PathBuf {
        self.dev_dir.join("dev-secret")
    }

    /// Where the development mode writes its token.
    pub fn dev_token_path(&self) -> PathBuf {
        self.dev_dir.join("dev-token")
    }

    /// The development token, in the development mode once [`crate::dev::prepare`] wrote it.
    pub fn dev_token(&self) -> Option<String> {
        if !self.dev {
            return None;
        }
        std::fs::read_to_string(self.dev_token_path())
            .ok()
            .map(|t| t.trim().to_owned())
    }

    /// The verifier these settings describe; it only reads. In the development mode without
    /// a secret given, the secret is the one [`crate::dev::prepare`] made.
    pub fn verifier(&self) -> Result<Verifier, SettingsError> {
        let sources: Vec<&str> = [
            self.hs256_secret
                .as_ref()
                .map(|_| "ORDERLOG_AUTH_HS256_SECRET"),
            self.public_key_file
                .as_ref()
                .map(|_| "ORDERLOG_AUTH_PUBLIC_KEY_FILE"),
            self.jwks_file.as_ref().map(|_| "ORDERLOG_AUTH_JWKS_FILE"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if sources.len() > 1 {
            return Err(SettingsError::Ambiguous(sources.join(", ")));
        }
        if self.dev && (self.public_key_file.is_some() || self.jwks_file.is_some()) {
            return Err(SettingsError::Ambiguous(
                "ORDERLOG_AUTH_DEV with a public key: the development mode signs its own tokens"
                    .into(),
            ));
        }
        let leeway = Duration::from_secs(self.leeway_s);
        let keys = if let Some(secret) = &self.hs256_secret {
            hs256_keys(secret.expose().as_bytes())?
        } else if let Some(path) = &self.public_key_file {
            let pem = read(path)?;
            let key = match self.public_key_algorithm {
                KeyAlgorithm::Rs256 => DecodingKey::from_rsa_pem(pem.as_bytes()),
                KeyAlgorithm::Es256 => DecodingKey::from_ec_pem(pem.as_bytes()),
            }
            .map_err(|e| key_error(path, e.to_string()))?;
            let algorithm = match self.public_key_algorithm {
                KeyAlgorithm::Rs256 => Algorithm::RS256,
                KeyAlgorithm::Es256 => Algorithm::ES256,
            };
            Keys::One(algorithm, key)
        } else if let Some(path) = &self.jwks_file {
            Keys::from_jwks(&read(path)?).map_err(|reason| key_error(path, reason))?
        } else if self.dev {
            let path = self.dev_secret_path();
            let secret = std::fs::read_to_string(&path).map_err(|e| SettingsError::Dev {
                path: path.display().to_string(),
                reason: format!("{e} (the development secret is made by guard::dev::prepare)"),
            })?;
            hs256_keys(secret.trim().as_bytes())?
        } else {
            return Err(SettingsError::Unconfigured);
        };
        Ok(Verifier::new(keys, &self.issuer, &self.audience, leeway))
    }
}

fn hs256_keys(secret: &[u8]) -> Result<Keys, SettingsError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SettingsError::ShortSecret);
    }
    let key = DecodingKey::from_secret(secret).map_err(|_| SettingsError::ShortSecret)?;
    Ok(Keys::One(Algorithm::HS256, key))
}

fn read(path: &std::path::Path) -> Result<String, SettingsError> {
    std::fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))
}

fn key_error(path: &std::path::Path, reason: String) -> SettingsError {
    SettingsError::Key {
        path: path.display().to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_without_auth_settings_is_refused_with_what_to_set() {
        let error = AuthSettings::unconfigured()
            .verifier()
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("ORDERLOG_AUTH_DEV=true"),
            "{error}"
        );
        assert!(matches!(
            AuthSettings::hs256("short").verifier(),
            Err(SettingsError::ShortSecret)
        ));
        let mut both = AuthSettings::hs256(&"s".repeat(32));
        both.jwks_file = Some("/nonexistent".into());
        assert!(matches!(both.verifier(), Err(SettingsError::Ambiguous(_))));
        let mut missing = AuthSettings::unconfigured();
        missing.public_key_file = Some("/nonexistent/key.pem".into());
        let error = missing.verifier().err().expect("refused");
        assert!(
            error.to_string().contains("/nonexistent/key.pem"),
            "{error}"
        );
    }
}
