//! The production key sources: RS256 and ES256 PEM public keys and a JWKS file, with keys
//! made by openssl, as an operator would make them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use guard::settings::KeyAlgorithm;
use guard::token::Mint;
use guard::{AuthSettings, Denial, Scope};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orderlog-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn openssl(args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A private and a public PEM key of `kind` ("rsa" or "ec").
fn key_pair(dir: &Path, kind: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{kind}.key"));
    let public = dir.join(format!("{kind}.pub"));
    let private_s = private.to_str().expect("utf-8");
    match kind {
        "rsa" => openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            private_s,
        ]),
        _ => openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            private_s,
        ]),
    }
    openssl(&[
        "pkey",
        "-in",
        private_s,
        "-pubout",
        "-out",
        public.to_str().expect("utf-8"),
    ]);
    (private, public)
}

fn mint() -> Mint {
    let mut mint = Mint::all_scopes("orderlog", "orderlog", "svc", Duration::from_secs(60));
    mint.scopes = vec![Scope::Write];
    mint
}

fn encoding_key(private: &Path, algorithm: Algorithm) -> EncodingKey {
    let pem = std::fs::read(private).expect("key");
    match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).expect("rsa"),
        _ => EncodingKey::from_ec_pem(&pem).expect("ec"),
    }
}

#[test]
fn pem_public_keys_check_rs256_and_es256_tokens() {
    let dir = scratch();
    for (kind, algorithm, setting) in [
        ("rsa", Algorithm::RS256, KeyAlgorithm::Rs256),
        ("ec", Algorithm::ES256, KeyAlgorithm::Es256),
    ] {
        let (private, public) = key_pair(&dir, kind);
        let mut settings = AuthSettings::unconfigured();
        settings.public_key_file = Some(public);
        settings.public_key_algorithm = setting;
        let verifier = settings.verifier().expect("key loads");
        let token = mint()
            .sign(&Header::new(algorithm), &encoding_key(&private, algorithm))
            .expect("sign");
        let principal = verifier.verify(&token).expect("valid");
        assert!(principal.may(Scope::Write));
        // An HS256 token made with the public key as its secret (the classic confusion) fails.
        let public_pem =
            std::fs::read(settings.public_key_file.as_ref().expect("set")).expect("pem");
        let confused = mint().hs256(&public_pem).expect("sign");
        assert_eq!(
            verifier.verify(&confused).err(),
            Some(Denial::Invalid("algorithm not accepted"))
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_jwks_file_picks_the_key_by_kid() {
    let dir = scratch();
    let (rsa_private, _) = key_pair(&dir, "rsa");
    let (ec_private, _) = key_pair(&dir, "ec");
    let rsa = encoding_key(&rsa_private, Algorithm::RS256);
    let ec = encoding_key(&ec_private, Algorithm::ES256);
    let mut keys = Vec::new();
    for (kid, key, algorithm) in [
        ("r1", &rsa, Algorithm::RS256),
        ("e1", &ec, Algorithm::ES256),
    ] {
        let mut jwk = Jwk::from_encoding_key(key, algorithm).expect("jwk");
        jwk.common.key_id = Some(kid.to_owned());
        keys.push(jwk);
    }
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::to_string(&JwkSet { keys }).expect("json"),
    )
    .expect("write");
    let mut settings = AuthSettings::unconfigured();
    settings.jwks_file = Some(jwks);
    let verifier = settings.verifier().expect("jwks loads");
    for (kid, key, algorithm) in [
        ("r1", &rsa, Algorithm::RS256),
        ("e1", &ec, Algorithm::ES256),
    ] {
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.to_owned());
        let token = mint().sign(&header, key).expect("sign");
        verifier.verify(&token).expect("valid by kid");
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("unknown".to_owned());
    let token = mint().sign(&header, &rsa).expect("sign");
    assert_eq!(
        verifier.verify(&token).err(),
        Some(Denial::Invalid("unknown key id"))
    );
    // The RSA key's kid on an EC-signed token: the algorithm does not match the key.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("r1".to_owned());
    let token = mint().sign(&header, &ec).expect("sign");
    assert!(verifier.verify(&token).is_err());
    let _ = std::fs::remove_dir_all(dir);
}
