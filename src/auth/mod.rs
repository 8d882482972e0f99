//! Bearer-JWT authentication: verifies tokens and turns claims into a
//! [`Principal`]. The algorithm is pinned by configuration, so `alg: none`
//! and HS/RS key confusion are rejected before any signature check.
//!
//! Several keys may be trusted at once, picked by the token's `kid` header
//! ([`keys`]), and key files are re-read when they change, so an identity
//! provider can rotate its signing key without a restart
//! (`docs/operations.md`, "Rotating JWT keys"). Dev tokens are issued in
//! [`issue`].

use std::{
    sync::{Arc, Mutex, PoisonError, RwLock, Weak},
    time::Duration,
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tonic::{Request, Status, service::Interceptor};

use crate::{
    config::{AuthSettings, JwtAlgorithm},
    domain::{Principal, Role, UnitId, access::Operation, text_enum::TextEnum},
};

mod issue;
mod keys;
#[cfg(test)]
mod tests;
mod verified;

/// Writes a new file readable by its owner only (secrets and keys).
pub(crate) use issue::write_private;
pub use issue::{
    MIN_SECRET_BYTES, Signer, TokenRequest, hs256_kid, hs256_secret, issue_hs256_token,
};
use keys::{Fingerprint, KeyFiles, KeySet};
use verified::VerifiedTokens;

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
    /// The `kid` header names no trusted key: signed with a key not yet
    /// added, or already removed, or not ours.
    #[error(
        "invalid token: unknown signing key id (kid) {0:?}; the server trusts no key of that name"
    )]
    UnknownKey(String),
    /// No `kid` header while several keys are trusted.
    #[error(
        "invalid token: no key id (kid) header, which is needed to choose among the {0} trusted keys"
    )]
    KeyIdRequired(usize),
}

/// Verifies tokens with the configured keys and algorithm. Clones share
/// the keys, so a reload is seen by every clone.
#[derive(Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
}

/// What the clones of a verifier (and its reload task, weakly) share.
struct Shared {
    /// The configured algorithm, the only one `validation` accepts.
    algorithm: Algorithm,
    validation: Validation,
    /// The keys in force and the tokens verified with them; a reload
    /// replaces the `Arc`, and a verification holds the one it took, so the
    /// lock is held only to clone it.
    keys: RwLock<Arc<InForce>>,
    /// Where the keys are re-read from; `None` for keys fixed at start.
    files: Option<KeyFiles>,
    /// The files as last read (or last tried), to notice a change; `None`
    /// after they could not even be listed, so that is reported once.
    seen: Mutex<Option<Fingerprint>>,
    /// How often the reload task looks; `None`: never.
    reload_every: Option<Duration>,
}

/// A key set and the tokens verified under it, swapped together so that a
/// reload also forgets every token verified before it ([`verified`]).
struct InForce {
    keys: KeySet,
    verified: VerifiedTokens,
}

impl InForce {
    fn new(keys: KeySet) -> Arc<Self> {
        Arc::new(Self {
            keys,
            verified: VerifiedTokens::new(verified::CAPACITY),
        })
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("algorithms", &self.shared.validation.algorithms)
            .field("kids", &self.key_ids())
            .field("files", &self.shared.files)
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
    /// the key material. Key files are read once here; call
    /// [`Verifier::with_reload_task`] to follow their changes.
    pub fn from_settings(auth: &AuthSettings) -> anyhow::Result<Self> {
        let alg = algorithm(auth.algorithm);
        let (keys, files, seen) = match auth.algorithm {
            JwtAlgorithm::HS256 => {
                anyhow::ensure!(
                    auth.public_keys_dir.is_none() && auth.jwks_file.is_none(),
                    "auth.public_keys_dir and auth.jwks_file hold public keys for RS256/ES256, \
                     but auth.algorithm is HS256"
                );
                let secret = hs256_secret(auth)?;
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
                (
                    KeySet::single(Some(hs256_kid(&secret)), key),
                    None,
                    Vec::new(),
                )
            }
            JwtAlgorithm::RS256 | JwtAlgorithm::ES256 => {
                let files = KeyFiles::from_settings(auth)?;
                // Before reading: a change while reading shows up next time.
                let seen = files.fingerprint()?;
                (files.load(alg)?, Some(files), seen)
            }
        };
        tracing::info!(algorithm = ?alg, kids = ?keys.kids(), "JWT verification keys loaded");
        let reload_every = (files.is_some() && auth.keys_reload_secs > 0)
            .then(|| Duration::from_secs(auth.keys_reload_secs));
        Ok(Self::build(keys, files, seen, reload_every, auth))
    }

    /// A verifier for one explicit key that takes any `kid` (tests and the
    /// load generator).
    pub fn new(key: DecodingKey, auth: &AuthSettings) -> Self {
        Self::build(KeySet::single(None, key), None, Vec::new(), None, auth)
    }

    fn build(
        keys: KeySet,
        files: Option<KeyFiles>,
        seen: Fingerprint,
        reload_every: Option<Duration>,
        auth: &AuthSettings,
    ) -> Self {
        let alg = algorithm(auth.algorithm);
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        validation.set_issuer(&[&auth.issuer]);
        validation.set_audience(&[&auth.audience]);
        validation.leeway = auth.leeway_secs;
        // `nbf` is optional but, when present, binding; `iat` is checked
        // after decoding (jsonwebtoken does not look at it).
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            shared: Arc::new(Shared {
                algorithm: alg,
                validation,
                keys: RwLock::new(InForce::new(keys)),
                files,
                seen: Mutex::new(Some(seen)),
                reload_every,
            }),
        }
    }

    /// Starts the task that re-reads changed key files every
    /// `auth.keys_reload_secs` (nothing to do for fixed keys). The task
    /// holds the verifier weakly and ends once every clone is dropped.
    /// Needs a tokio runtime.
    pub fn with_reload_task(self) -> Self {
        if let Some(every) = self.shared.reload_every {
            tokio::spawn(reload_loop(Arc::downgrade(&self.shared), every));
        }
        self
    }

    /// Re-reads the key files now if they changed since last read: `true`
    /// if a new key set is in force. On an error the keys in force stay, and
    /// the same files are not tried again until they change.
    pub fn reload_keys(&self) -> anyhow::Result<bool> {
        self.shared.reload_if_changed()
    }

    /// The kids of the keys in force (`-` for a key without one).
    pub fn key_ids(&self) -> Vec<String> {
        self.shared.current().keys.kids()
    }

    /// Verifies a token and maps its claims to a principal.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_session(token).map(|(principal, _)| principal)
    }

    /// Verifies a token: the principal and when the token expires. A token
    /// verified before under the same keys and not yet expired is answered
    /// from memory ([`verified`] says why that is the same answer).
    pub fn verify_session(&self, token: &str) -> Result<(Principal, SessionExpiry), AuthError> {
        let in_force = self.shared.current();
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(known) = in_force.verified.get(token, now) {
            return Ok(known);
        }
        let (principal, expiry, exp) = self.shared.verify_with(&in_force.keys, token, now)?;
        in_force.verified.insert(token, &principal, expiry, exp);
        Ok((principal, expiry))
    }
}

/// A token issued later than `now` (Unix seconds) plus `leeway` comes
/// from a clock too far ahead to trust (or was minted to be used later
/// without saying so with `nbf`).
fn check_issued_at(iat: i64, now: u64, leeway: u64) -> Result<(), AuthError> {
    let latest = i128::from(now) + i128::from(leeway);
    if i128::from(iat) > latest {
        return Err(AuthError::Invalid(format!(
            "token issued in the future (iat {iat}, now {now}, leeway {leeway} s)"
        )));
    }
    Ok(())
}

impl Shared {
    /// The full verification of a token with `keys` at `now` (Unix
    /// seconds): its principal, expiry and `exp`.
    fn verify_with(
        &self,
        keys: &KeySet,
        token: &str,
        now: u64,
    ) -> Result<(Principal, SessionExpiry, i64), AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let key = keys.select(header.kid.as_deref())?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        check_issued_at(data.claims.iat, now, self.validation.leeway)?;
        let exp = data.claims.exp;
        let expiry = chrono::DateTime::from_timestamp(exp, 0)
            .ok_or_else(|| AuthError::Invalid("exp out of range".into()))?;
        Ok((
            principal_from_claims(data.claims)?,
            SessionExpiry(expiry),
            exp,
        ))
    }

    fn current(&self) -> Arc<InForce> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let Some(files) = &self.files else {
            return Ok(false);
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let now = match files.fingerprint() {
            Ok(now) => now,
            Err(_) if seen.is_none() => return Ok(false),
            Err(e) => {
                *seen = None;
                return Err(e);
            }
        };
        if seen.as_ref() == Some(&now) {
            return Ok(false);
        }
        *seen = Some(now);
        let keys = files.load(self.algorithm)?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = InForce::new(keys);
        Ok(true)
    }
}

/// The polling behind [`Verifier::with_reload_task`]. The check is a few
/// `stat` calls, run off the async workers like any file access.
async fn reload_loop(shared: Weak<Shared>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; the keys are fresh
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let checked = tokio::task::spawn_blocking(move || {
            let result = shared.reload_if_changed();
            (result, shared.current().keys.kids())
        })
        .await;
        match checked {
            Ok((Ok(true), kids)) => tracing::info!(?kids, "JWT verification keys reloaded"),
            Ok((Ok(false), _)) => {}
            Ok((Err(e), kids)) => tracing::error!(
                error = format!("{e:#}"),
                ?kids,
                "JWT key files changed but cannot be read; the keys in force stay"
            ),
            Err(e) => tracing::error!(error = %e, "JWT key reload task failed"),
        }
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
