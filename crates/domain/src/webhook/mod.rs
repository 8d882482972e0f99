//! Webhooks: committed ticket events pushed to other systems (a city's
//! big-data platform, a district's own case system, 110 linkage).
//!
//! The pure parts live here: what a subscription asks for and how it is
//! validated ([`SubscriptionSpec`]), which events it wants
//! ([`SubscriptionSpec::wants`]), how long a failed delivery waits
//! ([`backoff`]), how a body is signed ([`signature`]) and what a body
//! holds, caller data included only where allowed ([`payload`]). The
//! outbox, claiming and the HTTP client are the store's and the server's.

pub mod backoff;
pub mod payload;
pub mod signature;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use crate::{DomainError, EventKind, RegionCode, UnitId, ticket::reject_nul};

/// Longest accepted URL: what common proxies and servers accept.
pub const MAX_URL_LEN: usize = 2048;
/// Shortest accepted signing secret: 128 bits as 16 random characters at
/// the least, so a receiver's check is not guessable.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest accepted signing secret.
pub const MAX_SECRET_LEN: usize = 256;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// What an admin registers: where to send which events, and whether the
/// receiving system may see caller data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// `http://` or `https://` endpoint the events are POSTed to.
    pub url: String,
    /// Event kinds wanted ([`EventKind::TYPES`]), sorted and unique; empty
    /// means every kind.
    pub event_kinds: Vec<String>,
    /// Only tickets this unit leads; `None`: any.
    pub unit: Option<UnitId>,
    /// Only tickets whose region code starts with these digits; `None`: any.
    pub region_prefix: Option<String>,
    /// The receiving system may see the caller's name and phone (of tickets
    /// that are not confidential). Only an admin registers subscriptions,
    /// so only an admin can set it; see [`payload`] for what it changes.
    pub pii_allowed: bool,
    /// Deliveries are made; an inactive subscription collects nothing.
    pub active: bool,
    /// What the receiving system is, for people.
    pub description: String,
}

impl SubscriptionSpec {
    /// Checks every field, naming the first bad one (paths relative to the
    /// subscription, e.g. `url`); sorts and dedupes the event kinds.
    pub fn validated(mut self) -> Result<Self, DomainError> {
        check_url(&self.url)?;
        let mut kinds = BTreeSet::new();
        for kind in &self.event_kinds {
            if !EventKind::TYPES.contains(&kind.as_str()) {
                return Err(DomainError::invalid(
                    "event_kinds",
                    format!("unknown event kind {kind:?}"),
                ));
            }
            kinds.insert(kind.clone());
        }
        self.event_kinds = kinds.into_iter().collect();
        if let Some(prefix) = &self.region_prefix {
            RegionCode::parse_prefix(prefix).map_err(|e| e.within("region_prefix"))?;
        }
        reject_nul(&self.description).map_err(|e| e.within("description"))?;
        if self.description.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(DomainError::invalid(
                "description",
                format!("at most {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
        Ok(self)
    }

    /// Whether an event of `kind` on a ticket in `region` led by
    /// `lead_unit` is for this subscription (its activity aside).
    pub fn wants(&self, kind: &str, region: &str, lead_unit: Option<&str>) -> bool {
        let kind_ok = self.event_kinds.is_empty() || self.event_kinds.iter().any(|k| k == kind);
        let unit_ok = self
            .unit
            .as_ref()
            .is_none_or(|unit| lead_unit == Some(unit.as_str()));
        let region_ok = self
            .region_prefix
            .as_deref()
            .is_none_or(|prefix| region.starts_with(prefix));
        kind_ok && unit_ok && region_ok
    }
}

/// Checks a signing secret's length (its content is the admin's choice).
pub fn check_secret(secret: &str) -> Result<(), DomainError> {
    let len = secret.len();
    if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&len) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "secret",
            format!("must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes"),
        ))
    }
}

/// Checks that `url` is an absolute `http` or `https` URL with a host and
/// no user info (credentials in a URL end up in logs; the signature is the
/// authentication). The server parses it fully as well before storing it.
pub fn check_url(url: &str) -> Result<(), DomainError> {
    let bad = |why: &str| Err(DomainError::invalid("url", why));
    if url.is_empty() {
        return bad("required");
    }
    if url.len() > MAX_URL_LEN {
        return bad("too long (at most 2048 bytes)");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return bad("must be an http:// or https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.starts_with(':') {
        return bad("must name a host");
    }
    if authority.contains('@') {
        return bad("must not carry user info; receivers check the signature instead");
    }
    Ok(())
}
