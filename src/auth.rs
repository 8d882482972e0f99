//! Bearer-JWT authentication: verifies tokens and turns claims into a
//! [`Principal`]. The algorithm is pinned by configuration, so `alg: none`
//! and HS/RS key confusion are rejected before any signature check.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tonic::{Request, Status, service::Interceptor};

use crate::{
    config::{AuthSettings, JwtAlgorithm},
    domain::{Principal, Role, UnitId, access::Operation, text_enum::TextEnum},
};

/// Claims of a hotline token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Role codes: `agent`, `unit_handler`, `supervisor`, `admin`.
    pub roles: Vec<String>,
    /// Unit of a `unit_handler`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_id: Option<String>,
    /// Region prefix of a `supervisor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `authorization: Bearer …` metadata.
    #[error("missing bearer token")]
    Missing,
    /// Bad signature, wrong `alg`, expired, wrong `iss`/`aud`, malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Verifies tokens with the configured key and algorithm.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

fn algorithm(alg: JwtAlgorithm) -> Algorithm {
    match alg {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
    }
}

impl Verifier {
    /// Builds the verifier from settings, reading (or, for HS256, creating)
    /// the key material.
    pub fn from_settings(auth: &AuthSettings) -> anyhow::Result<Self> {
        let key = match auth.algorithm {
            JwtAlgorithm::HS256 => {
                DecodingKey::from_secret(hs256_secret(auth)?.expose_secret().as_bytes())
            }
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                let path = auth
                    .public_key_file
                    .as_deref()
                    .context("auth.public_key_file is required for RS256/ES256")?;
                let pem = std::fs::read(path).with_context(|| format!("reading {path}"))?;
                if auth.algorithm == JwtAlgorithm::RS256 {
                    DecodingKey::from_rsa_pem(&pem)?
                } else {
                    DecodingKey::from_ec_pem(&pem)?
                }
            }
        };
        Ok(Self::new(key, auth))
    }

    /// A verifier for an explicit key.
    pub fn new(key: DecodingKey, auth: &AuthSettings) -> Self {
        let mut validation = Validation::new(algorithm(auth.algorithm));
        validation.algorithms = vec![algorithm(auth.algorithm)];
        validation.set_issuer(&[&auth.issuer]);
        validation.set_audience(&[&auth.audience]);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self { key, validation }
    }

    /// Verifies a token and maps its claims to a principal.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_session(token).map(|(principal, _)| principal)
    }

    /// Verifies a token: the principal and when the token expires.
    pub fn verify_session(&self, token: &str) -> Result<(Principal, SessionExpiry), AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let expiry = chrono::DateTime::from_timestamp(data.claims.exp, 0)
            .ok_or_else(|| AuthError::Invalid("exp out of range".into()))?;
        Ok((principal_from_claims(data.claims)?, SessionExpiry(expiry)))
    }
}

/// Checks the claims are coherent: known roles, a unit for unit handlers and
/// a region for supervisors.
pub fn principal_from_claims(claims: Claims) -> Result<Principal, AuthError> {
    let roles = claims
        .roles
        .iter()
        .map(|r| {
            Role::from_code(r).ok_or_else(|| AuthError::Invalid(format!("unknown role {r:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if roles.is_empty() {
        return Err(AuthError::Invalid("token has no roles".into()));
    }
    let unit = claims
        .unit_id
        .as_deref()
        .map(|u| UnitId::parse(u).map_err(|_| AuthError::Invalid("malformed unit_id claim".into())))
        .transpose()?;
    if roles.contains(&Role::UnitHandler) && unit.is_none() {
        return Err(AuthError::Invalid(
            "unit_handler token needs a unit_id claim".into(),
        ));
    }
    let region = claims
        .region
        .map(|r| {
            crate::domain::RegionCode::parse_prefix(&r)
                .map_err(|_| AuthError::Invalid("malformed region claim".into()))
        })
        .transpose()?;
    if roles.contains(&Role::Supervisor) && region.is_none() {
        return Err(AuthError::Invalid(
            "supervisor token needs a region claim".into(),
        ));
    }
    let subject = claims.sub.trim();
    if subject.is_empty() || subject.len() > 128 || subject.starts_with("system:") {
        return Err(AuthError::Invalid(
            "sub must be 1-128 characters and not start with the reserved system: prefix".into(),
        ));
    }
    Ok(Principal {
        subject: subject.to_owned(),
        roles,
        unit,
        region,
    })
}

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
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
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

/// Signs a token with the local HS256 secret (development and tests).
pub fn issue_hs256_token(
    auth: &AuthSettings,
    secret: &SecretString,
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
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )?)
}

/// tonic interceptor: verifies the bearer token and stores the principal in
/// the request extensions for the service to read.
#[derive(Debug, Clone)]
pub struct AuthInterceptor {
    verifier: Arc<Verifier>,
}

impl AuthInterceptor {
    /// Wraps a verifier.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        Self { verifier }
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(AuthError::Missing)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let (principal, expiry) = self.verifier.verify_session(token.trim()).map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            Status::unauthenticated(e.to_string())
        })?;
        request.extensions_mut().insert(principal);
        request.extensions_mut().insert(expiry);
        Ok(request)
    }
}

/// When the token of a request expires: live streams end then, since a
/// stream outliving its token would keep serving a revoked or demoted user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpiry(pub chrono::DateTime<chrono::Utc>);

/// Reads the token expiry the interceptor stored.
pub fn session_expiry<T>(request: &Request<T>) -> Option<SessionExpiry> {
    request.extensions().get::<SessionExpiry>().copied()
}

/// Reads the principal the interceptor stored.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

/// The caller, if their roles allow `operation` (PERMISSION_DENIED if not):
/// the first line of most RPCs.
pub fn authorized<T>(request: &Request<T>, operation: Operation) -> Result<Principal, Status> {
    let principal = principal(request)?;
    principal
        .authorize(operation)
        .map_err(crate::service::ServiceError::from)?;
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_empty_secrets_are_refused() {
        for secret in ["", "   ", "too-short-for-hmac"] {
            let auth = AuthSettings {
                hs256_secret: Some(SecretString::from(secret)),
                ..AuthSettings::default()
            };
            assert!(Verifier::from_settings(&auth).is_err(), "{secret:?}");
        }
        let auth = AuthSettings {
            hs256_secret: Some(SecretString::from("x".repeat(MIN_SECRET_BYTES))),
            ..AuthSettings::default()
        };
        assert!(Verifier::from_settings(&auth).is_ok());
    }
}
