//! The keys that protect caller data at rest: data keys named by id, one of
//! them current, and the key of the phone number's blind index.
//!
//! Why ids: rotation needs old and new keys readable at once (rows written
//! under the old key stay readable until `hotline keys rotate` has
//! re-encrypted them), so each ciphertext names the key it was sealed
//! with, and the keyring holds every key still in use.
//!
//! Why a text format of its own: one line per key, `<id> <base64 of 32
//! bytes>`, is what an operator can write with `openssl rand -base64 32`,
//! append to a file, or put in one environment variable or Kubernetes
//! Secret. The id `index` is reserved for the blind-index key.

use std::{collections::BTreeMap, fmt};

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305};
use rand::RngCore;

/// The reserved id of the blind-index key.
pub const INDEX_KEY_ID: &str = "index";

/// Longest key id: ids are written into every ciphertext.
const MAX_KEY_ID: usize = 32;

/// A keyring that cannot be built: a bad line, a missing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PII keys: {0}")]
pub struct KeyringError(String);

/// One data key: its id and the cipher made from it.
struct DataKey {
    cipher: XChaCha20Poly1305,
}

/// Data keys by id, the current one, and the blind-index key. `Debug`
/// shows the ids only.
pub struct PiiKeyring {
    keys: BTreeMap<String, DataKey>,
    current: String,
    index: [u8; 32],
}

impl fmt::Debug for PiiKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PiiKeyring")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl PiiKeyring {
    /// Parses `<id> <base64>` lines (blank lines and `#` comments are
    /// skipped). `current` picks the key new writes use; `None` takes the
    /// greatest id, so ids that grow with time (`k20261201…`, as
    /// [`new_key_line`] makes them) make the newest key current.
    pub fn parse(text: &str, current: Option<&str>) -> Result<Self, KeyringError> {
        let mut keys = BTreeMap::new();
        let mut index = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |what: &str| KeyringError(format!("line {}: {what}", n + 1));
            let (id, encoded) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("expected `<id> <base64 key>`"))?;
            check_id(id).map_err(|e| bad(&e))?;
            let bytes: [u8; 32] = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("the key must be 32 bytes in base64"))?;
            if id == INDEX_KEY_ID {
                if index.replace(bytes).is_some() {
                    return Err(bad("a second index key"));
                }
            } else if keys.insert(id.to_owned(), bytes).is_some() {
                return Err(bad(&format!("a second key with the id {id:?}")));
            }
        }
        let index = index.ok_or_else(|| {
            KeyringError(format!(
                "no blind-index key (a line `{INDEX_KEY_ID} <base64>`)"
            ))
        })?;
        let current = match current {
            Some(id) if keys.contains_key(id) => id.to_owned(),
            Some(id) => {
                return Err(KeyringError(format!(
                    "the current key {id:?} is not listed"
                )));
            }
            None => keys
                .keys()
                .next_back()
                .cloned()
                .ok_or_else(|| KeyringError("no data key".into()))?,
        };
        Ok(Self::from_keys(keys, current, index))
    }

    /// A keyring of fresh random keys that lives as long as the process:
    /// for tests and throwaway benchmark databases only, since whatever it
    /// encrypts is unreadable once it is gone.
    pub fn ephemeral() -> Self {
        let mut rng = rand::rng();
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let mut index = [0u8; 32];
        rng.fill_bytes(&mut index);
        Self::from_keys(
            BTreeMap::from([("ephemeral".to_owned(), key)]),
            "ephemeral".into(),
            index,
        )
    }

    fn from_keys(keys: BTreeMap<String, [u8; 32]>, current: String, index: [u8; 32]) -> Self {
        let keys = keys
            .into_iter()
            .map(|(id, bytes)| {
                let cipher = XChaCha20Poly1305::new(&Key::from(bytes));
                (id, DataKey { cipher })
            })
            .collect();
        Self {
            keys,
            current,
            index,
        }
    }

    /// The id of the key new writes are sealed with.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// Every data key id, sorted.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    /// The cipher of a key id, if the keyring holds it.
    pub(super) fn cipher(&self, id: &str) -> Option<&XChaCha20Poly1305> {
        self.keys.get(id).map(|k| &k.cipher)
    }

    /// The current key's id and cipher.
    pub(super) fn current_cipher(&self) -> (&str, &XChaCha20Poly1305) {
        let key = &self.keys[&self.current];
        (&self.current, &key.cipher)
    }

    /// The blind-index key.
    pub(super) fn index_key(&self) -> &[u8; 32] {
        &self.index
    }
}

/// Key ids go into every ciphertext, between `:` separators.
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_KEY_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the key id {id:?} must be 1–{MAX_KEY_ID} letters, digits, '-' or '_'"
        ))
    }
}

/// A new random data key as a keyring line, its id `k<stamp>` (a UTC
/// timestamp such as `20261201T083000`, so the newest key sorts last).
pub fn new_key_line(stamp: &str) -> String {
    format!("k{stamp} {}", random_key())
}

/// A new random blind-index key as a keyring line.
pub fn new_index_line() -> String {
    format!("{INDEX_KEY_ID} {}", random_key())
}

fn random_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, byte: u8) -> String {
        format!("{id} {}", STANDARD.encode([byte; 32]))
    }

    #[test]
    fn the_greatest_id_is_current_unless_one_is_named() {
        let text = format!(
            "# keys\n{}\n\n{}\n{}\n",
            line("k2025", 1),
            line("k2026", 2),
            line(INDEX_KEY_ID, 3)
        );
        let ring = PiiKeyring::parse(&text, None).unwrap();
        assert_eq!(ring.current_id(), "k2026");
        assert_eq!(ring.key_ids(), ["k2025", "k2026"]);
        let ring = PiiKeyring::parse(&text, Some("k2025")).unwrap();
        assert_eq!(ring.current_id(), "k2025");
        assert!(PiiKeyring::parse(&text, Some("k2024")).is_err());
    }

    #[test]
    fn bad_keyrings_are_refused_with_the_line() {
        let index = line(INDEX_KEY_ID, 3);
        for (text, needle) in [
            (line("k1", 1), "no blind-index key"),
            (index.clone(), "no data key"),
            (
                format!("{index}\nk1 c2hvcnQ="),
                "line 2: the key must be 32 bytes",
            ),
            (
                format!("{index}\nk:1 {}", STANDARD.encode([0; 32])),
                "line 2: the key id",
            ),
            (
                format!("{index}\n{}\n{}", line("a", 1), line("a", 2)),
                "line 3: a second key",
            ),
            (format!("{index}\n{index}"), "a second index key"),
            (format!("{index}\nlonely"), "expected"),
        ] {
            let err = PiiKeyring::parse(&text, None).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should say {needle}");
        }
    }

    #[test]
    fn debug_shows_ids_not_keys() {
        let text = format!("{}\n{}", line("k1", 7), line(INDEX_KEY_ID, 8));
        let printed = format!("{:?}", PiiKeyring::parse(&text, None).unwrap());
        assert!(printed.contains("k1"));
        assert!(!printed.contains(&STANDARD.encode([7u8; 32])));
    }

    #[test]
    fn generated_lines_parse() {
        let text = format!("{}\n{}", new_key_line("20261201T000000"), new_index_line());
        let ring = PiiKeyring::parse(&text, None).unwrap();
        assert_eq!(ring.current_id(), "k20261201T000000");
    }
}
