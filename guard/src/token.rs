//! Bearer JWTs: checking them ([`Verifier`]) and, for development and tests, making them
//! ([`Mint`]). A token must be signed by a configured key with an accepted algorithm, name
//! the configured issuer and audience, carry `exp` and `sub`, and not be expired beyond the
//! leeway. Its scopes come from `scope` (space-separated) or `scp` (a list or a string), its
//! customer from `customer_id`.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::denial::Denial;
use crate::principal::Principal;
use crate::scope::{Scope, Scopes};

/// Longest token accepted; longer ones are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Longest customer id a token may name.
const MAX_CUSTOMER_BYTES: usize = 128;

/// The keys tokens are checked against.
pub enum Keys {
    /// One key and its algorithm (an HS256 secret, an RS256 or ES256 public key).
    One(Algorithm, DecodingKey),
    /// A JWKS: the token's `kid` picks the key (a set of one needs no `kid`).
    Set(Vec<(Option<String>, Algorithm, DecodingKey)>),
}

impl Keys {
    /// The keys of a JWKS document (RS256 for RSA keys, ES256 for P-256 keys, or each
    /// key's `alg`).
    pub fn from_jwks(json: &str) -> Result<Self, String> {
        let set: JwkSet = serde_json::from_str(json).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(alg), _) => alg
                    .to_string()
                    .parse::<Algorithm>()
                    .map_err(|e| format!("key algorithm {alg}: {e}"))?,
                (None, jsonwebtoken::jwk::AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_)) => {
                    Algorithm::ES256
                }
                (None, _) => return Err("a key with no algorithm that is not RSA or EC".into()),
            };
            if !matches!(algorithm, Algorithm::RS256 | Algorithm::ES256) {
                return Err(format!(
                    "key algorithm {algorithm:?}: only RS256 and ES256 are accepted"
                ));
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("a key: {e}"))?;
            keys.push((jwk.common.key_id.clone(), algorithm, key));
        }
        if keys.is_empty() {
            return Err("the JWKS holds no key".into());
        }
        Ok(Keys::Set(keys))
    }
}

/// Checks tokens against the keys, issuer, audience and leeway.
pub struct Verifier {
    keys: Keys,
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<ScopeList>,
    #[serde(default)]
    customer_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeList {
    Words(String),
    List(Vec<String>),
}

impl Verifier {
    pub fn new(keys: Keys, issuer: &str, audience: &str, leeway: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = leeway.as_secs();
        validation.validate_nbf = true;
        Self { keys, validation }
    }

    /// The caller a token names, or why it does not count.
    pub fn verify(&self, token: &str) -> Result<Principal, Denial> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Denial::Invalid("too long"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| Denial::Invalid("malformed"))?;
        let (algorithm, key) = match &self.keys {
            Keys::One(algorithm, key) => (*algorithm, key),
            Keys::Set(keys) => {
                let found = match &header.kid {
                    Some(kid) => keys.iter().find(|(id, _, _)| id.as_deref() == Some(kid)),
                    None if keys.len() == 1 => keys.first(),
                    None => None,
                };
                let (_, algorithm, key) = found.ok_or(Denial::Invalid("unknown key id"))?;
                (*algorithm, key)
            }
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![algorithm];
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| Denial::Invalid(reason(e.kind())))?
            .claims;
        principal(claims)
    }
}

fn principal(claims: Claims) -> Result<Principal, Denial> {
    if claims.sub.is_empty() || claims.sub.len() > 256 {
        return Err(Denial::Invalid("sub must be 1 to 256 bytes"));
    }
    let mut words: Vec<&str> = Vec::new();
    if let Some(scope) = &claims.scope {
        words.extend(scope.split_ascii_whitespace());
    }
    match &claims.scp {
        Some(ScopeList::Words(scp)) => words.extend(scp.split_ascii_whitespace()),
        Some(ScopeList::List(list)) => words.extend(list.iter().map(String::as_str)),
        None => {}
    }
    if let Some(customer) = &claims.customer_id {
        let sane = (1..=MAX_CUSTOMER_BYTES).contains(&customer.len())
            && customer.chars().all(|c| !c.is_control());
        if !sane {
            return Err(Denial::Invalid("customer_id must be 1 to 128 characters"));
        }
    }
    Ok(Principal {
        subject: claims.sub,
        scopes: Scopes::of(words),
        customer: claims.customer_id,
    })
}

/// Why a token was refused, in words that help its sender and reveal nothing else.
fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "expired",
        ErrorKind::ImmatureSignature => "not yet valid",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => "algorithm not accepted",
        ErrorKind::MissingRequiredClaim(_) => "a required claim (exp, iss, aud, sub) is missing",
        _ => "malformed",
    }
}

/// A token to make: for the development mode, tests and load generators.
#[derive(Debug, Clone)]
pub struct Mint {
    pub issuer: String,
    pub audience: String,
    pub subject: String,
    pub scopes: Vec<Scope>,
    pub customer: Option<String>,
    pub ttl: Duration,
}

#[derive(Serialize)]
struct MintedClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    iat: u64,
    exp: u64,
}

impl Mint {
    /// A token with every scope for `subject`.
    pub fn all_scopes(issuer: &str, audience: &str, subject: &str, ttl: Duration) -> Self {
        Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            subject: subject.to_owned(),
            scopes: Scope::ALL.to_vec(),
            customer: None,
            ttl,
        }
    }

    /// Signs the token with an HS256 secret.
    pub fn hs256(&self, secret: &[u8]) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(
            &Header::new(Algorithm::HS256),
            &EncodingKey::from_secret(secret)?,
        )
    }

    /// Signs the token with any key (RS256/ES256 in tests of those keys).
    pub fn sign(
        &self,
        header: &Header,
        key: &EncodingKey,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = MintedClaims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: &self.subject,
            scope: self
                .scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            customer_id: self.customer.as_deref(),
            iat: now,
            exp: now.saturating_add(self.ttl.as_secs()),
        };
        jsonwebtoken::encode(header, &claims, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn verifier() -> Verifier {
        Verifier::new(
            Keys::One(
                Algorithm::HS256,
                DecodingKey::from_secret(SECRET).expect("key"),
            ),
            "iss-a",
            "aud-a",
            Duration::from_secs(5),
        )
    }

    fn mint() -> Mint {
        Mint::all_scopes("iss-a", "aud-a", "svc", Duration::from_secs(60))
    }

    #[test]
    fn a_good_token_names_its_caller() {
        let mut mint = mint();
        mint.scopes = vec![Scope::Read];
        mint.customer = Some("cust-1".into());
        let principal = verifier()
            .verify(&mint.hs256(SECRET).expect("sign"))
            .expect("valid");
        assert_eq!(principal.subject, "svc");
        assert!(principal.may(Scope::Read) && !principal.may(Scope::Write));
        assert!(principal.sees_customer("cust-1") && !principal.sees_customer("cust-2"));
    }

    #[test]
    fn bad_tokens_are_refused_with_a_reason() {
        let verifier = verifier();
        let refused = |token: &str| verifier.verify(token).expect_err("refused");
        assert_eq!(refused("not a token"), Denial::Invalid("malformed"));
        let other_key = mint()
            .hs256(b"another secret of 32 bytes or so!")
            .expect("sign");
        assert_eq!(refused(&other_key), Denial::Invalid("bad signature"));
        let mut wrong = mint();
        wrong.issuer = "iss-b".into();
        assert_eq!(
            refused(&wrong.hs256(SECRET).expect("sign")),
            Denial::Invalid("wrong issuer")
        );
        let mut wrong = mint();
        wrong.audience = "aud-b".into();
        assert_eq!(
            refused(&wrong.hs256(SECRET).expect("sign")),
            Denial::Invalid("wrong audience")
        );
        // Expired beyond the leeway: minted with exp in the past by signing claims directly.
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": "iss-a", "aud": "aud-a", "sub": "s", "exp": jsonwebtoken::get_current_timestamp() - 60}),
            &EncodingKey::from_secret(SECRET).expect("key"),
        )
        .expect("sign");
        assert_eq!(refused(&expired), Denial::Invalid("expired"));
        let no_exp = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": "iss-a", "aud": "aud-a", "sub": "s"}),
            &EncodingKey::from_secret(SECRET).expect("key"),
        )
        .expect("sign");
        assert!(matches!(refused(&no_exp), Denial::Invalid(r) if r.contains("exp")));
        // An HS384 token is refused even with the right secret: one algorithm per key.
        let hs384 = mint()
            .sign(
                &Header::new(Algorithm::HS384),
                &EncodingKey::from_secret(SECRET).expect("key"),
            )
            .expect("sign");
        assert_eq!(refused(&hs384), Denial::Invalid("algorithm not accepted"));
        // "alg": "none" is never accepted.
        let none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzIn0.";
        assert!(matches!(refused(none), Denial::Invalid(_)));
        assert_eq!(
            refused(&"a".repeat(MAX_TOKEN_BYTES + 1)),
            Denial::Invalid("too long")
        );
    }

    #[test]
    fn within_the_leeway_an_expired_token_still_counts() {
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"iss": "iss-a", "aud": "aud-a", "sub": "s", "exp": jsonwebtoken::get_current_timestamp() - 2, "scp": ["orders:write"]}),
            &EncodingKey::from_secret(SECRET).expect("key"),
        )
        .expect("sign");
        let principal = verifier().verify(&token).expect("within leeway");
        assert!(principal.may(Scope::Write));
    }
}
