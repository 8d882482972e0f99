//! Caller data encrypted at rest (DOMAIN.md §7): the store's codec, which
//! seals a ticket's personal fields as it writes the row and opens them as
//! it reads it, so the database (its files, its backups, its replicas, an
//! operator's `SELECT`) only ever holds ciphertext, while the trait still
//! speaks plain domain types.
//!
//! Which fields: the caller's name and phone, the address, the description
//! (the caller's own words, which often name people and give numbers) and
//! the callback comment (the citizen's words again). Titles, replies and
//! notes are written by staff for units to read, units never see the
//! caller (masking), and lists and routing dry-runs show titles, so they
//! stay in clear.
//!
//! Why XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`): an AEAD whose
//! 192-bit nonces can be drawn at random for every value without a limit
//! that tens of millions of tickets, each rewritten on every transition,
//! could approach (AES-GCM's 96-bit random nonces would need counting),
//! and fast in software on any CPU. Each value is bound to its row and
//! column as associated data, so a ciphertext copied into another row or
//! column does not decrypt.
//!
//! A value is stored as `pii1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`;
//! the row's `pii_key_id` repeats the key id so rotation can find rows
//! under an old key with plain SQL. A row whose `pii_key_id` is NULL was
//! written before encryption and is read as clear text until rotation
//! seals it.
//!
//! The phone number is also stored as a keyed blind index,
//! HMAC-SHA256(index key, normalised digits), the only form
//! `LookupCaller` searches by: equal numbers give equal indexes, and
//! without the key the index reveals nothing (a plain hash of an 11-digit
//! number could be reversed by trying them all).
//!
//! The ticket's text sketch (duplicate search's MinHash of the title and
//! description, [`TextSketch`]) is keyed the same way, with a key derived
//! from the index key: its values are minima of trigram hashes, which a
//! dictionary of Chinese trigrams could read back if they were stored
//! plain, and the description is caller data.

mod keyring;

use std::{fmt, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, KeyInit, Mac};
use pii_sha2::Sha256;
use rand::RngCore;

pub use keyring::{INDEX_KEY_ID, KeyringError, PiiKeyring, new_index_line, new_key_line};

use super::{StoreError, StoreResult};
use hotline_domain::{
    TicketId,
    duplicates::{SketchKey, TextSketch},
    ticket::Ticket,
};

/// Prefix of a sealed value, with the format's version.
const SEALED_PREFIX: &str = "pii1:";

/// Nonce length of XChaCha20-Poly1305.
const NONCE_LEN: usize = 24;

/// Seals and opens caller data with a keyring; cheap to clone. A disabled
/// codec (a store opened without keys, for commands that never touch
/// tickets) refuses every ticket write and every sealed read rather than
/// fall back to clear text.
#[derive(Clone)]
pub struct PiiCodec {
    keyring: Option<Arc<PiiKeyring>>,
    /// Keys the text sketches; derived from the index key.
    sketch_key: Option<Arc<SketchKey>>,
}

impl fmt::Debug for PiiCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.keyring {
            Some(ring) => f
                .debug_struct("PiiCodec")
                .field("current", &ring.current_id())
                .finish_non_exhaustive(),
            None => f.write_str("PiiCodec(disabled)"),
        }
    }
}

/// The personal fields of one ticket row, clear or sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PiiValues {
    pub(crate) caller_name: Option<String>,
    pub(crate) caller_phone: Option<String>,
    pub(crate) address: String,
    pub(crate) description: String,
    pub(crate) callback_comment: Option<String>,
}

impl PiiValues {
    /// The ticket's personal fields in clear.
    fn of(ticket: &Ticket) -> Self {
        let caller = &ticket.intake.caller;
        Self {
            caller_name: caller.name.as_ref().map(|n| n.expose().to_owned()),
            caller_phone: caller.phone.as_ref().map(|p| p.expose().to_owned()),
            address: ticket.intake.address.clone(),
            description: ticket.intake.description.clone(),
            callback_comment: ticket.outcome.callback_comment.clone(),
        }
    }

    /// Applies `f(column, value)` to every present field.
    fn try_map(
        self,
        mut f: impl FnMut(&'static str, String) -> StoreResult<String>,
    ) -> StoreResult<Self> {
        Ok(Self {
            caller_name: self.caller_name.map(|v| f("caller_name", v)).transpose()?,
            caller_phone: self
                .caller_phone
                .map(|v| f("caller_phone", v))
                .transpose()?,
            address: f("address", self.address)?,
            description: f("description", self.description)?,
            callback_comment: self
                .callback_comment
                .map(|v| f("callback_comment", v))
                .transpose()?,
        })
    }
}

/// A ticket's personal fields as stored: sealed under one key, with the
/// phone's blind index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedPii {
    /// The key every value is sealed with.
    pub(crate) key_id: String,
    /// The sealed values.
    pub(crate) values: PiiValues,
    /// The phone number's blind index.
    pub(crate) phone_index: Option<String>,
}

/// A ticket with its sealed fields: what the row is written from.
#[derive(Debug, Clone)]
pub(crate) struct StoredTicket {
    /// The ticket (its personal fields are not written from here).
    pub(crate) ticket: Ticket,
    /// Its personal fields as written.
    pub(crate) pii: SealedPii,
    /// Its text sketch's stored form; `None` when the write leaves the
    /// stored one as it is (the text did not change).
    pub(crate) text_sketch: Option<Vec<u8>>,
}

impl PiiCodec {
    /// A codec over a keyring.
    pub fn new(keyring: PiiKeyring) -> Self {
        let sketch_key = sketch_key(&keyring);
        Self {
            keyring: Some(Arc::new(keyring)),
            sketch_key: Some(Arc::new(sketch_key)),
        }
    }

    /// No keys: tickets can be neither written nor read (only rows from
    /// before encryption). For stores opened by commands that do not touch
    /// tickets (reports, the catalogue, migrations).
    pub fn disabled() -> Self {
        Self {
            keyring: None,
            sketch_key: None,
        }
    }

    /// Fresh random keys for this process only (tests, throwaway
    /// benchmark databases): see [`PiiKeyring::ephemeral`].
    pub fn ephemeral() -> Self {
        Self::new(PiiKeyring::ephemeral())
    }

    /// The id of the key new writes use; `None` when disabled.
    pub fn current_key_id(&self) -> Option<&str> {
        self.keyring.as_deref().map(PiiKeyring::current_id)
    }

    fn keyring(&self) -> StoreResult<&PiiKeyring> {
        self.keyring.as_deref().ok_or_else(|| {
            StoreError::internal(
                "caller data needs the PII keys, and this store was opened without",
            )
        })
    }

    /// Seals a new ticket's personal fields under the current key and
    /// sketches its text.
    pub(crate) fn seal(&self, ticket: Ticket) -> StoreResult<StoredTicket> {
        self.seal_changed(ticket, true)
    }

    /// Seals a changed ticket's personal fields under the current key; its
    /// text is sketched again only if `text_changed` (a sketch costs a
    /// shingling and 128 HMACs, which a state change need not pay).
    pub(crate) fn seal_changed(
        &self,
        ticket: Ticket,
        text_changed: bool,
    ) -> StoreResult<StoredTicket> {
        let pii = self.seal_values(ticket.id, PiiValues::of(&ticket))?;
        let text_sketch = if text_changed {
            let intake = &ticket.intake;
            Some(
                self.text_sketch(&intake.title, &intake.description)?
                    .to_bytes(),
            )
        } else {
            None
        };
        Ok(StoredTicket {
            ticket,
            pii,
            text_sketch,
        })
    }

    /// The keyed sketch of a title and description.
    pub(crate) fn text_sketch(&self, title: &str, description: &str) -> StoreResult<TextSketch> {
        let key = self.sketch_key.as_deref().ok_or_else(|| {
            StoreError::internal(
                "text sketches need the PII keys, and this store was opened without",
            )
        })?;
        Ok(TextSketch::of(title, description, key))
    }

    /// Seals clear values of ticket `id` under the current key.
    pub(crate) fn seal_values(&self, id: TicketId, clear: PiiValues) -> StoreResult<SealedPii> {
        let ring = self.keyring()?;
        let (key_id, cipher) = ring.current_cipher();
        let phone_index = clear
            .caller_phone
            .as_deref()
            .map(|p| blind_index(ring, p))
            .transpose()?;
        let row = id.to_string();
        let values = clear.try_map(|column, value| seal(key_id, cipher, &row, column, &value))?;
        Ok(SealedPii {
            key_id: key_id.to_owned(),
            values,
            phone_index,
        })
    }

    /// Opens the values of ticket `id` stored under `key_id` (`None`: a
    /// row from before encryption, in clear).
    pub(crate) fn open_values(
        &self,
        id: &str,
        key_id: Option<&str>,
        stored: PiiValues,
    ) -> StoreResult<PiiValues> {
        let Some(key_id) = key_id else {
            return Ok(stored);
        };
        let cipher = self.ticket_cipher(id, key_id)?;
        stored.try_map(|column, value| open(key_id, cipher, id, column, &value))
    }

    /// Opens one value (`column`) of ticket `id` stored under `key_id`
    /// (`None`: in clear), leaving the row's other fields sealed.
    pub(crate) fn open_value(
        &self,
        id: &str,
        key_id: Option<&str>,
        column: &str,
        stored: String,
    ) -> StoreResult<String> {
        let Some(key_id) = key_id else {
            return Ok(stored);
        };
        open(key_id, self.ticket_cipher(id, key_id)?, id, column, &stored)
    }

    /// The cipher of the key ticket `id`'s row names.
    fn ticket_cipher(&self, id: &str, key_id: &str) -> StoreResult<&XChaCha20Poly1305> {
        self.keyring()?.cipher(key_id).ok_or_else(|| {
            StoreError::internal(format!(
                "tickets/{id} is sealed with the key {key_id:?}, which is not configured"
            ))
        })
    }

    /// Seals one clear value that is not a ticket's (a webhook secret)
    /// under the current key. `row` names its record and must not be a
    /// ticket id (the associated data is built as for tickets, so a value
    /// moved between a ticket and such a record does not open).
    pub(crate) fn seal_text(&self, row: &str, column: &str, clear: &str) -> StoreResult<String> {
        let ring = self.keyring()?;
        let (key_id, cipher) = ring.current_cipher();
        seal(key_id, cipher, row, column, clear)
    }

    /// Opens a value sealed by [`PiiCodec::seal_text`], under the key its
    /// text names.
    pub(crate) fn open_text(&self, row: &str, column: &str, sealed: &str) -> StoreResult<String> {
        let ring = self.keyring()?;
        let key_id = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .map(|(key_id, _)| key_id)
            .ok_or_else(|| StoreError::internal(format!("{row} {column} is not sealed")))?;
        let cipher = ring.cipher(key_id).ok_or_else(|| {
            StoreError::internal(format!(
                "{row} {column} is sealed with the key {key_id:?}, which is not configured"
            ))
        })?;
        open(key_id, cipher, row, column, sealed)
    }

    /// The blind index of a normalised phone number.
    pub(crate) fn phone_index(&self, digits: &str) -> StoreResult<String> {
        blind_index(self.keyring()?, digits)
    }
}

/// `pii1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, bound to the row
/// and column.
fn seal(
    key_id: &str,
    cipher: &XChaCha20Poly1305,
    row: &str,
    column: &str,
    clear: &str,
) -> StoreResult<String> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let aad = associated_data(row, column);
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: clear.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| StoreError::internal(format!("sealing {column} failed")))?;
    let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
    bytes.extend_from_slice(&nonce);
    bytes.extend_from_slice(&sealed);
    Ok(format!(
        "{SEALED_PREFIX}{key_id}:{}",
        URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The clear text of a sealed value; any mismatch (another key, row or
/// column, a changed byte) is an error naming the row and column only.
fn open(
    key_id: &str,
    cipher: &XChaCha20Poly1305,
    row: &str,
    column: &str,
    sealed: &str,
) -> StoreResult<String> {
    let corrupt =
        |why: &str| StoreError::internal(format!("tickets/{row} {column} cannot be opened: {why}"));
    let body = sealed
        .strip_prefix(SEALED_PREFIX)
        .and_then(|rest| rest.strip_prefix(key_id))
        .and_then(|rest| rest.strip_prefix(':'))
        .ok_or_else(|| corrupt("not sealed with the row's key"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| corrupt("not base64"))?;
    if bytes.len() < NONCE_LEN {
        return Err(corrupt("too short"));
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| corrupt("bad nonce"))?;
    let aad = associated_data(row, column);
    let clear = cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| corrupt("authentication failed"))?;
    String::from_utf8(clear).map_err(|_| corrupt("not UTF-8"))
}

fn associated_data(row: &str, column: &str) -> String {
    format!("tickets/{row}/{column}")
}

/// The sketch key: HMAC-SHA256 of a label under the index key, so the
/// sketches and the phone index never share a key.
fn sketch_key(ring: &PiiKeyring) -> SketchKey {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(ring.index_key())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"text-sketch-key");
    SketchKey::new(mac.finalize().into_bytes().into())
}

/// HMAC-SHA256 of the digits under the index key, base64url.
fn blind_index(ring: &PiiKeyring, digits: &str) -> StoreResult<String> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(ring.index_key())
        .map_err(|_| StoreError::internal("the blind-index key does not fit HMAC"))?;
    mac.update(b"phone:");
    mac.update(digits.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests;
