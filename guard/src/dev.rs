//! The development mode's files, prepared at start-up before the settings are read
//! ([`crate::Guard::new`] does it): a secret generated once into `<dir>/dev-secret` (mode
//! 0600, kept across restarts and shared by every service started with the same directory)
//! and a token with every scope written to `<dir>/dev-token` at each start, valid for 30
//! days.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use secret::Secret;

use crate::settings::{AuthSettings, SettingsError};
use crate::token::Mint;

/// How long the development token is valid.
pub const TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The subject of the development token.
pub const SUBJECT: &str = "developer";

/// In the development mode, writes a fresh token with every scope, signed with the given
/// secret or else with the development secret, which is made first if there is none;
/// nothing otherwise. Several services starting at once agree on one secret: it is written
/// to a private file and linked into place, and whoever links second reads the winner's.
pub fn prepare(settings: &AuthSettings) -> Result<(), SettingsError> {
    if !settings.dev {
        return Ok(());
    }
    let dir = &settings.dev_dir;
    if let Some(secret) = &settings.hs256_secret {
        return write_token(settings, secret);
    }
    let failed = |path: &Path, e: std::io::Error| SettingsError::Dev {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let path = settings.dev_secret_path();
    if !path.exists() {
        let candidate = dir.join(format!(".dev-secret.{}", uuid::Uuid::new_v4()));
        let generated = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        write_private(&candidate, &generated).map_err(|e| failed(&candidate, e))?;
        let linked = fs::hard_link(&candidate, &path);
        let _ = fs::remove_file(&candidate);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(failed(&path, e)),
        }
    }
    let secret = fs::read_to_string(&path).map_err(|e| failed(&path, e))?;
    write_token(settings, &Secret::new(secret.trim()))
}

/// Writes a fresh token with every scope, signed with `secret`, to `<dir>/dev-token`.
fn write_token(settings: &AuthSettings, secret: &Secret) -> Result<(), SettingsError> {
    let (dir, issuer, audience) = (&settings.dev_dir, &settings.issuer, &settings.audience);
    let failed = |path: &Path, e: std::io::Error| SettingsError::Dev {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let token = Mint::all_scopes(issuer, audience, SUBJECT, TOKEN_TTL)
        .hs256(secret.expose().as_bytes())
        .map_err(|e| SettingsError::Dev {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
    let token_file = settings.dev_token_path();
    let staged = dir.join(format!(".dev-token.{}", uuid::Uuid::new_v4()));
    write_private(&staged, &token).map_err(|e| failed(&staged, e))?;
    fs::rename(&staged, &token_file).map_err(|e| failed(&token_file, e))?;
    tracing::warn!(
        token_file = %token_file.display(),
        "development mode: tokens are signed with a generated secret; use the ready token with \
         -H \"Authorization: Bearer $(cat {})\"",
        token_file.display()
    );
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scope;

    #[test]
    fn the_development_mode_keeps_one_secret_and_writes_a_token_that_passes() {
        let dir = std::env::temp_dir().join(format!("orderlog-dev-{}", uuid::Uuid::new_v4()));
        let mut settings = AuthSettings::unconfigured();
        settings.dev = true;
        settings.dev_dir = dir.clone();
        assert!(
            settings.verifier().is_err(),
            "no secret before it is prepared"
        );
        prepare(&settings).expect("prepared");
        let verifier = settings.verifier().expect("dev mode");
        let first = fs::read_to_string(settings.dev_secret_path()).expect("secret");
        let token = fs::read_to_string(settings.dev_token_path()).expect("token");
        let principal = verifier.verify(&token).expect("the dev token passes");
        assert!(Scope::ALL.iter().all(|s| principal.may(*s)));
        // A second service started with the same directory shares the secret.
        prepare(&settings).expect("prepared again");
        let again = settings.verifier().expect("dev mode again");
        assert_eq!(
            fs::read_to_string(settings.dev_secret_path()).expect("secret"),
            first
        );
        again.verify(&token).expect("the first token still passes");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(settings.dev_secret_path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = fs::remove_dir_all(dir);
    }
}
