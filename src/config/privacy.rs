//! Settings of caller data at rest and of the PII access log: where the
//! keys come from, which one seals new writes, and how long the log of
//! who saw callers unmasked is kept.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Caller data encryption and the PII access log (DOMAIN.md §7).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// The keyring file: lines `<id> <base64 of 32 bytes>`, one of them the
    /// blind-index key `index`. Created with a random data key and index
    /// key on first use when missing (unless `keys` is set), like the
    /// HS256 secret file.
    pub keys_file: String,
    /// The keyring itself, lines separated by newlines or `;` (prefer the
    /// env var `HOTLINE_PRIVACY__KEYS`, from a secret store); wins over
    /// `keys_file`. Never serialized.
    #[serde(skip_serializing)]
    pub keys: Option<SecretString>,
    /// The key id new writes are sealed with; default: the greatest id
    /// (ids made by `hotline keys add` grow with time).
    pub current_key: Option<String>,
    /// Days a PII access log row is kept; older rows are purged hourly. 0
    /// keeps them for ever.
    pub pii_access_retention_days: u32,
}

impl Default for PrivacySettings {
    /// A year of access log: above the six months China's Cybersecurity
    /// Law asks of network logs, short enough to bound the table.
    fn default() -> Self {
        Self {
            keys_file: "hotline-pii.keys".into(),
            keys: None,
            current_key: None,
            pii_access_retention_days: 365,
        }
    }
}
