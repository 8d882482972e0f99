//! The verification keys of a [`super::Verifier`]: where they come from, how
//! a token's `kid` picks one, and how a changed key file is noticed.
//!
//! Key rotation needs two keys trusted at once (the identity provider's old
//! one, for tokens still in flight, and its new one), so keys are a set
//! named by `kid`. The set is immutable; a reload builds a new one and the
//! verifier swaps it in whole, so a request sees either the old or the new
//! set, never half of each.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    str::FromStr,
    time::SystemTime,
};

use anyhow::Context;
use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse},
};

use super::AuthError;

/// Longest `kid` quoted back in an error: the header is the caller's input.
const MAX_QUOTED_KID: usize = 64;

/// The keys trusted at one moment.
pub(crate) struct KeySet {
    /// `(kid, key)`; a key without a kid is the single key of a
    /// `public_key_file` (or [`super::Verifier::new`]) setup. A handful of
    /// keys at most, so a linear search is the fastest lookup.
    keys: Vec<(Option<String>, DecodingKey)>,
}

impl KeySet {
    /// A set of one key, with or without a kid.
    pub(crate) fn single(kid: Option<String>, key: DecodingKey) -> Self {
        Self {
            keys: vec![(kid, key)],
        }
    }

    /// The kids of the set, for logs and tests (a kid-less key is `-`).
    pub(crate) fn kids(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|(kid, _)| kid.clone().unwrap_or_else(|| "-".to_owned()))
            .collect()
    }

    /// The key for a token's `kid` header.
    ///
    /// A named key must exist, except that a lone kid-less key (the
    /// single-key setup) takes any kid: identity providers put a kid in
    /// every token, and a `public_key_file` deployment accepted those tokens
    /// before keys had names. A token without a kid is accepted only when
    /// there is exactly one key, since with several any choice would be a
    /// guess.
    pub(crate) fn select(&self, kid: Option<&str>) -> Result<&DecodingKey, AuthError> {
        match (kid, self.keys.as_slice()) {
            (None, [(_, key)]) | (Some(_), [(None, key)]) => Ok(key),
            (None, keys) => Err(AuthError::KeyIdRequired(keys.len())),
            (Some(kid), keys) => keys
                .iter()
                .find(|(k, _)| k.as_deref() == Some(kid))
                .map(|(_, key)| key)
                .ok_or_else(|| AuthError::UnknownKey(kid.chars().take(MAX_QUOTED_KID).collect())),
        }
    }
}

/// Where reloadable keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyFiles {
    /// `auth.public_key_file`: one key without a kid.
    PemFile(PathBuf),
    /// `auth.public_keys_dir`: `<kid>.pem` files.
    PemDir(PathBuf),
    /// `auth.jwks_file`: a JWK Set.
    Jwks(PathBuf),
}

/// What the files looked like when last read: name, length and
/// modification time of each. Comparing this every few seconds costs a few
/// `stat` calls; reading and parsing the keys happens only on a change.
pub(crate) type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

impl KeyFiles {
    /// The configured key source for an asymmetric algorithm; at most one
    /// may be set, since merging sources would make "which keys are
    /// trusted" hard to answer.
    pub(crate) fn from_settings(auth: &crate::config::AuthSettings) -> anyhow::Result<Self> {
        let configured: Vec<(&str, Self)> = [
            (
                "public_key_file",
                &auth.public_key_file,
                Self::PemFile as fn(PathBuf) -> Self,
            ),
            ("public_keys_dir", &auth.public_keys_dir, Self::PemDir),
            ("jwks_file", &auth.jwks_file, Self::Jwks),
        ]
        .into_iter()
        .filter_map(|(name, path, make)| path.as_ref().map(|p| (name, make(PathBuf::from(p)))))
        .collect();
        match configured.as_slice() {
            [] => anyhow::bail!(
                "RS256/ES256 need the verification keys: set auth.public_keys_dir, \
                 auth.jwks_file or auth.public_key_file"
            ),
            [(_, files)] => Ok(files.clone()),
            [(first, _), (second, _), ..] => {
                anyhow::bail!("set only one of auth.{first} and auth.{second}")
            }
        }
    }

    /// The current fingerprint. Metadata follows symlinks, so a Kubernetes
    /// ConfigMap or Secret mount (files linked through `..data`) is seen to
    /// change when the mount is updated.
    pub(crate) fn fingerprint(&self) -> anyhow::Result<Fingerprint> {
        let stat = |path: PathBuf| -> anyhow::Result<(PathBuf, u64, Option<SystemTime>)> {
            let meta = std::fs::metadata(&path)
                .with_context(|| format!("reading the metadata of {}", path.display()))?;
            Ok((path, meta.len(), meta.modified().ok()))
        };
        match self {
            Self::PemFile(path) | Self::Jwks(path) => Ok(vec![stat(path.clone())?]),
            Self::PemDir(dir) => pem_files(dir)?.into_iter().map(stat).collect(),
        }
    }

    /// Reads and parses every key. All or nothing: a file that does not
    /// parse fails the whole load, so a half-written file never silently
    /// drops a key that tokens still need.
    pub(crate) fn load(&self, algorithm: Algorithm) -> anyhow::Result<KeySet> {
        let keys = match self {
            Self::PemFile(path) => vec![(None, pem_key(path, algorithm)?)],
            Self::PemDir(dir) => {
                let mut keys = Vec::new();
                for path in pem_files(dir)? {
                    let kid = path
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .with_context(|| format!("{}: the file name is no kid", path.display()))?
                        .to_owned();
                    keys.push((Some(kid), pem_key(&path, algorithm)?));
                }
                keys
            }
            Self::Jwks(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                jwks_keys(&text, algorithm).with_context(|| format!("in {}", path.display()))?
            }
        };
        let what = match self {
            Self::PemFile(path) | Self::PemDir(path) | Self::Jwks(path) => path.display(),
        };
        anyhow::ensure!(!keys.is_empty(), "{what} holds no {algorithm:?} key");
        Ok(KeySet { keys })
    }
}

/// The `*.pem` files of a directory, sorted. Hidden files are skipped:
/// editors and atomic writers put their temporary files there.
fn pem_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && path.extension().is_some_and(|e| e == "pem") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// One PEM public key of the configured algorithm.
fn pem_key(path: &Path, algorithm: Algorithm) -> anyhow::Result<DecodingKey> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let key = match algorithm {
        Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem),
        _ => DecodingKey::from_ec_pem(&pem),
    };
    key.with_context(|| format!("{}: not a {algorithm:?} public key in PEM", path.display()))
}

/// The keys of a JWK Set that can verify `algorithm` signatures.
///
/// Identity providers publish encryption keys and keys of other algorithms
/// in the same set, and new key types the library may not parse; those are
/// skipped (logged at debug), not errors. Several keys need distinct kids.
fn jwks_keys(
    text: &str,
    algorithm: Algorithm,
) -> anyhow::Result<Vec<(Option<String>, DecodingKey)>> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_str(text).context("not a JWK Set ({\"keys\": [...]})")?;
    let mut keys = Vec::new();
    for (i, value) in raw.keys.into_iter().enumerate() {
        let jwk = match serde_json::from_value::<Jwk>(value) {
            Ok(jwk) => jwk,
            Err(e) => {
                tracing::debug!(index = i, error = %e, "skipping a JWK this server cannot read");
                continue;
            }
        };
        if !verifies(&jwk, algorithm) {
            tracing::debug!(index = i, kid = ?jwk.common.key_id, "skipping a JWK not for {algorithm:?} signatures");
            continue;
        }
        let key = DecodingKey::from_jwk(&jwk)
            .with_context(|| format!("key {i} ({:?})", jwk.common.key_id))?;
        keys.push((jwk.common.key_id, key));
    }
    if keys.len() > 1 {
        let mut seen = BTreeSet::new();
        for (kid, _) in &keys {
            let kid = kid
                .as_deref()
                .context("with several keys, every key needs a kid")?;
            anyhow::ensure!(seen.insert(kid), "two keys have the kid {kid:?}");
        }
    }
    Ok(keys)
}

/// Whether a JWK is meant for, and shaped for, `algorithm` signatures.
fn verifies(jwk: &Jwk, algorithm: Algorithm) -> bool {
    let for_signatures = !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption));
    let may_verify = jwk
        .common
        .key_operations
        .as_ref()
        .is_none_or(|ops| ops.contains(&KeyOperations::Verify));
    let same_alg = jwk
        .common
        .key_algorithm
        .is_none_or(|a| Algorithm::from_str(&a.to_string()).ok() == Some(algorithm));
    let shape = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        _ => false,
    };
    for_signatures && may_verify && same_alg && shape
}
