//! Tokens already verified, so that a client sending the same bearer token
//! on every call pays for its signature check once, not per request.
//!
//! Verifying a token decodes its header and claims (base64 and JSON),
//! checks the signature (an HMAC, or an RSA/ECDSA verification) and maps
//! the claims to a [`Principal`]: for a small write such as SignTicket that
//! is a measurable share of the server's own CPU (`docs/performance.md`).
//! Everything that verification decides about a token is a function of the
//! token's bytes, the keys in force and the clock, so a verified token can
//! be answered from memory while none of these has moved in a way that
//! matters.
//!
//! Security review — why an answer from here equals a fresh verification:
//! - **The whole token is the key.** A hit needs the exact same bytes,
//!   signature included; a token differing anywhere (another `sub`, a
//!   forged signature) misses and is verified in full. The map compares
//!   keys for equality, so a hash collision cannot alias two tokens.
//! - **Only successes are kept.** A refused token is verified again on
//!   every attempt and never takes a slot, so bad tokens cannot flush the
//!   good ones out faster than unknown good ones could.
//! - **An entry ends at the token's `exp`.** It is used only while
//!   `now < exp`, which is stricter than verification (that accepts a token
//!   up to `exp + leeway`); past `exp` the token is verified again and
//!   refused there. `nbf` and `iat` only ever become more true as time
//!   passes, so a token accepted once stays acceptable on those counts.
//! - **A key reload empties it.** The cache belongs to the key set it was
//!   filled under ([`super::Verifier`] swaps both in one `Arc`), so after a
//!   rotation drops a key, tokens signed with it are verified against the
//!   new set (and refused) at once. A verification that began under the old
//!   set can only write into the old set's cache, which is no longer read.
//! - **There is no revocation to miss.** The server has no deny list: a
//!   token is valid until it expires or its key is withdrawn, which are
//!   exactly the two events above.
//! - **Bounded memory.** At most [`CAPACITY`] tokens of at most
//!   [`MAX_TOKEN_BYTES`] each (longer ones are verified every time), least
//!   recently used out first.
//!
//! A cached answer costs a hash of the token and a lock; timing of that
//! look-up tells a caller only whether their own token was seen before.

use std::{
    num::NonZeroUsize,
    sync::{Mutex, PoisonError},
};

use lru::LruCache;

use super::SessionExpiry;
use crate::domain::Principal;

/// Tokens remembered per key set: well above the distinct sessions one
/// replica serves within a token's lifetime in the centre's deployments.
pub(crate) const CAPACITY: usize = 4096;

/// Longer tokens are verified every time, so the cache holds at most
/// `CAPACITY × MAX_TOKEN_BYTES` (8 MiB) of token text. Tokens of the
/// identity providers in use are well under 1 KiB.
pub(crate) const MAX_TOKEN_BYTES: usize = 2048;

/// What verification concluded about a token.
#[derive(Debug, Clone)]
struct Verified {
    principal: Principal,
    expiry: SessionExpiry,
    /// The token's `exp` (Unix seconds): the entry is used only before it.
    exp: i64,
}

/// The verified tokens of one key set (see the module documentation).
pub(crate) struct VerifiedTokens {
    entries: Mutex<LruCache<String, Verified>>,
}

impl VerifiedTokens {
    /// An empty cache of at most `capacity` tokens (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// The principal and expiry of `token` if it was verified under this
    /// key set and has not expired at `now` (Unix seconds).
    pub(crate) fn get(&self, token: &str, now: u64) -> Option<(Principal, SessionExpiry)> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(token)?;
        if i128::from(now) < i128::from(entry.exp) {
            return Some((entry.principal.clone(), entry.expiry));
        }
        entries.pop(token);
        None
    }

    /// Remembers a token that has just been verified; a token too long to
    /// be worth its memory is not kept.
    pub(crate) fn insert(
        &self,
        token: &str,
        principal: &Principal,
        expiry: SessionExpiry,
        exp: i64,
    ) {
        if token.len() > MAX_TOKEN_BYTES {
            return;
        }
        let verified = Verified {
            principal: principal.clone(),
            expiry,
            exp,
        };
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(token.to_owned(), verified);
    }

    /// How many tokens are held (tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::Role;

    fn principal(subject: &str) -> Principal {
        Principal {
            subject: subject.into(),
            roles: vec![Role::Agent],
            unit: None,
            region: None,
        }
    }

    fn expiry(exp: i64) -> SessionExpiry {
        SessionExpiry(chrono::DateTime::from_timestamp(exp, 0).unwrap())
    }

    #[test]
    fn an_entry_answers_only_its_exact_token_and_only_before_exp() {
        let cache = VerifiedTokens::new(8);
        cache.insert("a.b.c", &principal("alice"), expiry(1_000), 1_000);
        let (p, e) = cache.get("a.b.c", 999).unwrap();
        assert_eq!(p.subject, "alice");
        assert_eq!(e, expiry(1_000));
        assert!(cache.get("a.b.d", 999).is_none(), "another signature");
        assert!(cache.get("a.b.", 999).is_none(), "a prefix");
        assert!(cache.get("a.b.c", 1_000).is_none(), "at exp");
        assert_eq!(cache.len(), 0, "an expired entry is dropped");
        assert!(cache.get("a.b.c", 999).is_none(), "and stays gone");
    }

    #[test]
    fn the_least_recently_used_token_goes_first_and_long_ones_are_not_kept() {
        let cache = VerifiedTokens::new(2);
        cache.insert("t1", &principal("one"), expiry(100), 100);
        cache.insert("t2", &principal("two"), expiry(100), 100);
        assert!(cache.get("t1", 0).is_some());
        cache.insert("t3", &principal("three"), expiry(100), 100);
        assert!(cache.get("t2", 0).is_none(), "least recently used");
        assert!(cache.get("t1", 0).is_some());
        assert!(cache.get("t3", 0).is_some());

        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        cache.insert(&long, &principal("long"), expiry(100), 100);
        assert!(cache.get(&long, 0).is_none());
        assert_eq!(cache.len(), 2);
    }
}
