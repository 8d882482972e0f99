//! Issuing development tokens (`hotline token`, tests, the load generator)
//! and the local HS256 secret they are signed with.
//!
//! Every token names its key in the `kid` header, so the tokens keep
//! verifying when the server trusts several keys during a rotation.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{Claims, algorithm};
use crate::{
    config::{AuthSettings, JwtAlgorithm},
    domain::{Role, text_enum::TextEnum},
};

/// Shortest accepted HS256 secret: an empty or short secret would let
/// anyone forge tokens.
pub const MIN_SECRET_BYTES: usize = 32;

/// The HS256 secret: from settings, else from the secret file, which is
/// created with 32 random bytes on first run (mode 0600).
pub fn hs256_secret(auth: &AuthSettings) -> anyhow::Result<SecretString> {
    let secret = load_hs256_secret(auth)?;
    anyhow::ensure!(
        secret.expose_secret().len() >= MIN_SECRET_BYTES,
        "the HS256 secret must be at least {MIN_SECRET_BYTES} bytes"
    );
    Ok(secret)
}

/// The `kid` of an HS256 secret: the first 8 hex digits of its SHA-256.
/// Derived rather than configured, so the server and `hotline token` agree
/// on it with no setting, and a token names the secret it was signed with
/// (32 bits of a hash reveal nothing usable about a 256-bit secret).
pub fn hs256_kid(secret: &SecretString) -> String {
    Sha256::digest(secret.expose_secret().as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn load_hs256_secret(auth: &AuthSettings) -> anyhow::Result<SecretString> {
    if let Some(secret) = &auth.hs256_secret {
        return Ok(secret.clone());
    }
    let path = Path::new(&auth.hs256_secret_file);
    if !path.exists() {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = base64::engine::general_purpose::STANDARD.encode(bytes);
        write_private(path, &secret).with_context(|| format!("creating {}", path.display()))?;
        tracing::info!(path = %path.display(), "created a new HS256 secret for dev tokens");
    }
    let secret =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(SecretString::from(secret.trim().to_owned()))
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// What a dev token should say.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Subject.
    pub subject: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Unit for unit handlers.
    pub unit_id: Option<String>,
    /// Region prefix for supervisors.
    pub region: Option<String>,
}

/// Signs dev tokens with the current key: the HS256 secret, or with RS256
/// and ES256 the private key `auth.signing_key_file`.
pub struct Signer {
    algorithm: Algorithm,
    key: EncodingKey,
    kid: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer the settings describe (creating the HS256 secret file on
    /// first use, as the server does).
    pub fn from_settings(auth: &AuthSettings) -> anyhow::Result<Self> {
        if auth.algorithm == JwtAlgorithm::HS256 {
            return Ok(Self::hs256(&hs256_secret(auth)?));
        }
        let path = auth.signing_key_file.as_deref().context(
            "with RS256/ES256, tokens come from your identity provider; `hotline token` signs \
             development tokens only given a private key in auth.signing_key_file",
        )?;
        let pem = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        let key = if auth.algorithm == JwtAlgorithm::RS256 {
            EncodingKey::from_rsa_pem(&pem)
        } else {
            EncodingKey::from_ec_pem(&pem)
        }
        .with_context(|| format!("{path}: not a {:?} private key in PEM", auth.algorithm))?;
        let kid = match &auth.signing_kid {
            Some(kid) => kid.clone(),
            None => Path::new(path)
                .file_stem()
                .and_then(|s| s.to_str())
                .with_context(|| format!("{path}: set auth.signing_kid"))?
                .to_owned(),
        };
        Ok(Self {
            algorithm: algorithm(auth.algorithm),
            key,
            kid,
        })
    }

    /// A signer for an HS256 secret, with its derived [`hs256_kid`].
    pub fn hs256(secret: &SecretString) -> Self {
        Self {
            algorithm: Algorithm::HS256,
            key: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
            kid: hs256_kid(secret),
        }
    }

    /// The `kid` header the tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A token for `request`, valid for `auth.dev_token_ttl_secs` from `now`.
    pub fn issue(
        &self,
        auth: &AuthSettings,
        request: &TokenRequest,
        now: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub: request.subject.clone(),
            roles: request.roles.iter().map(|r| r.code().to_owned()).collect(),
            unit_id: request.unit_id.clone(),
            region: request.region.clone(),
            iss: auth.issuer.clone(),
            aud: auth.audience.clone(),
            exp: now.timestamp() + i64::try_from(auth.dev_token_ttl_secs)?,
            iat: now.timestamp(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }
}

/// Signs a token with the local HS256 secret (development and tests).
pub fn issue_hs256_token(
    auth: &AuthSettings,
    secret: &SecretString,
    request: &TokenRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    Signer::hs256(secret).issue(auth, request, now)
}
