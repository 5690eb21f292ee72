//! The bearer token bench sends. Against a running platform: `--token`, or the file
//! `make up`'s development mode wrote. For the services bench starts itself (takeover,
//! chaos): a secret of their own, and tokens signed with it.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use guard::token::Mint;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// Bearer token sent with every request (needs orders:write for commands, orders:read
    /// for queries). Defaults to the token in --token-file.
    #[arg(long, env = "ORDERLOG_TOKEN", hide_env_values = true)]
    token: Option<telemetry::Secret>,
    /// Where the development mode (`make up`) wrote its token.
    #[arg(long, env = "ORDERLOG_TOKEN_FILE", default_value = ".local/dev-token")]
    token_file: PathBuf,
}

impl TokenArgs {
    /// Default headers carrying the token.
    pub fn headers(&self) -> anyhow::Result<HeaderMap> {
        let token = match &self.token {
            Some(token) => token.expose().to_owned(),
            None => std::fs::read_to_string(&self.token_file)
                .with_context(|| {
                    format!(
                        "no token: pass --token (or ORDERLOG_TOKEN), or run `make up`, which \
                         writes one to {}",
                        self.token_file.display()
                    )
                })?
                .trim()
                .to_owned(),
        };
        bearer(&token)
    }
}

impl TokenArgs {
    /// `Authorization` values for `callers` callers of their own: against the `make up`
    /// platform (no `--token`, its development secret beside the token file), a token per
    /// caller (subject `bench-caller-N`), so that a load of many clients is not one caller
    /// held to one caller's rate limit (`ORDERLOG_RATE_LIMIT_PER_S`); otherwise the one
    /// token, for every caller.
    /// The development mode's directory (where `make up` keeps its token and secret), for
    /// a service a benchmark starts beside the platform's.
    pub fn dev_dir(&self) -> PathBuf {
        self.token_file
            .parent()
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf)
    }

    pub fn callers(&self, callers: usize) -> anyhow::Result<Vec<HeaderValue>> {
        let secret = self.token_file.with_file_name("dev-secret");
        let one = || -> anyhow::Result<Vec<HeaderValue>> {
            let headers = self.headers()?;
            Ok(vec![headers[AUTHORIZATION].clone(); callers.max(1)])
        };
        if self.token.is_some() || !secret.exists() {
            return one();
        }
        let secret = std::fs::read_to_string(&secret)
            .with_context(|| format!("reading {}", secret.display()))?;
        (0..callers.max(1))
            .map(|n| {
                let token = signed(secret.trim(), &format!("bench-caller-{n}"))?;
                HeaderValue::from_str(&format!("Bearer {token}")).context("the token is not ASCII")
            })
            .collect()
    }
}

/// A token with every scope for `subject`, signed with the HS256 `secret`, valid a day
/// (issuer and audience as the services default them).
fn signed(secret: &str, subject: &str) -> anyhow::Result<String> {
    Ok(Mint::all_scopes(
        "orderlog",
        "orderlog",
        subject,
        Duration::from_secs(24 * 3600),
    )
    .hs256(secret.as_bytes())?)
}

/// Default headers with `Authorization: Bearer <token>`.
pub fn bearer(token: &str) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).context("the token is not ASCII")?,
    );
    Ok(headers)
}

/// The auth of services bench starts: their environment and a token with every scope.
pub struct OwnAuth {
    secret: String,
}

impl OwnAuth {
    pub fn generate() -> Self {
        Self {
            secret: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        }
    }

    pub fn env(&self) -> [(String, String); 1] {
        [("ORDERLOG_AUTH_HS256_SECRET".to_owned(), self.secret.clone())]
    }

    pub fn headers(&self) -> anyhow::Result<HeaderMap> {
        let token = signed(&self.secret, "orderlog-harness")?;
        bearer(&token)
    }
}
