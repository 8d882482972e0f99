//! The act path's optimistic ticket cache: the tickets this replica wrote
//! last, kept so that the next verb on one can skip reading it.
//!
//! Why it is safe to act on a copy that may be stale: every ticket write
//! is conditional on the version it starts from (`apply_transitions`,
//! `apply_ticket_changes`), and every change of a ticket's contents moves
//! its version (re-sealing caller data under a new key keeps the version,
//! and the contents with it). A write from a cached copy whose version is
//! still the stored one therefore writes exactly what a write after a fresh
//! read would; a copy that another replica, the sweeper or a merge has
//! overtaken loses the race and writes nothing. So the cache is only ever
//! a guess: the workflow drops the entry and decides again from a fresh
//! read whenever the guess is refused for any reason (see
//! [`super::Workflow::act`]), and no reader (`GetTicket`, lists) uses it.
//!
//! The policy here is pure: bounded by entries (least recently used goes
//! first) and by age (a short TTL, so a ticket idle for a while is read
//! again rather than guessed from a copy that has most likely been
//! overtaken), and a copy never replaces a newer version of itself.

use std::{
    num::NonZeroUsize,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use lru::LruCache;
use metrics::Counter;

use crate::domain::{TicketId, ticket::Ticket};

/// How often the cache helped, counted as
/// `hotline_ticket_cache_lookups_total{outcome}`.
#[derive(Debug, Clone)]
pub struct CacheCounters {
    /// `outcome="hit"`: a verb started from a cached copy.
    pub hits: Counter,
    /// `outcome="miss"`: no copy (or an expired one); the ticket was read.
    pub misses: Counter,
    /// `outcome="stale"`: a cached copy's attempt was refused, and the
    /// verb was decided again from a fresh read.
    pub stale: Counter,
}

impl Default for CacheCounters {
    fn default() -> Self {
        Self {
            hits: Counter::noop(),
            misses: Counter::noop(),
            stale: Counter::noop(),
        }
    }
}

/// A copy of a ticket and when it was remembered.
#[derive(Debug)]
struct Entry {
    ticket: Ticket,
    at: Instant,
}

/// A bounded, short-lived map of ticket id → the ticket as this replica
/// last wrote it (see the module documentation).
#[derive(Debug)]
pub struct TicketCache {
    /// `None` when disabled (a size of 0).
    entries: Option<Mutex<LruCache<TicketId, Entry>>>,
    /// How long a copy may be used after it was remembered.
    ttl: Duration,
    counters: CacheCounters,
}

impl TicketCache {
    /// A cache of at most `capacity` tickets, each usable for `ttl`;
    /// a capacity of 0 disables it (every lookup misses, uncounted).
    pub fn new(capacity: usize, ttl: Duration, counters: CacheCounters) -> Self {
        Self {
            entries: NonZeroUsize::new(capacity).map(|n| Mutex::new(LruCache::new(n))),
            ttl,
            counters,
        }
    }

    /// A cache that holds nothing.
    pub fn disabled() -> Self {
        Self::new(0, Duration::ZERO, CacheCounters::default())
    }

    /// Whether the cache holds anything at all.
    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// The cached copy of a ticket, if one is fresh enough to guess from.
    pub fn guess(&self, id: TicketId) -> Option<Ticket> {
        self.guess_at(id, Instant::now())
    }

    /// [`TicketCache::guess`] at a given instant.
    fn guess_at(&self, id: TicketId, now: Instant) -> Option<Ticket> {
        let entries = self.entries.as_ref()?;
        let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
        let found = match entries.get(&id) {
            Some(entry) if now.saturating_duration_since(entry.at) <= self.ttl => {
                Some(entry.ticket.clone())
            }
            Some(_) => {
                entries.pop(&id);
                None
            }
            None => None,
        };
        drop(entries);
        match found {
            Some(_) => self.counters.hits.increment(1),
            None => self.counters.misses.increment(1),
        }
        found
    }

    /// Remembers a ticket as just written, unless a newer version of it is
    /// remembered already (two verbs on one ticket may finish in either
    /// order; the later version is the one a next write must start from).
    pub fn remember(&self, ticket: &Ticket) {
        self.remember_at(ticket, Instant::now());
    }

    /// [`TicketCache::remember`] at a given instant.
    fn remember_at(&self, ticket: &Ticket, now: Instant) {
        let Some(entries) = &self.entries else {
            return;
        };
        let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries
            .peek(&ticket.id)
            .is_some_and(|e| e.ticket.version > ticket.version)
        {
            return;
        }
        entries.put(
            ticket.id,
            Entry {
                ticket: ticket.clone(),
                at: now,
            },
        );
    }

    /// Drops a ticket's copy: a write on it failed, or it was written by a
    /// path that does not remember what it wrote.
    pub fn forget(&self, id: TicketId) {
        if let Some(entries) = &self.entries {
            entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop(&id);
        }
    }

    /// Counts a cached copy's attempt that was refused and decided again
    /// from a fresh read.
    pub fn count_stale(&self) {
        self.counters.stale.increment(1);
    }

    /// How many copies are held (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| {
            e.lock().unwrap_or_else(PoisonError::into_inner).len()
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::{
        Caller, Principal, RegionCode, Role,
        ticket::{Channel, Intake, RequestType, Urgency},
    };

    const TTL: Duration = Duration::from_secs(30);

    fn ticket(version: i64) -> Ticket {
        let intake = Intake {
            channel: Channel::Phone,
            legacy_hotline: None,
            caller: Caller::parse("张三", "13800131234", false).unwrap(),
            confidential: false,
            request_type: RequestType::Complaint,
            urgency: Urgency::Normal,
            subject_code: None,
            region_code: RegionCode::parse("330106").unwrap(),
            address: "文三路 90 号".into(),
            title: "路灯不亮".into(),
            description: "小区门口的路灯坏了一周".into(),
        };
        let agent = Principal {
            subject: "agent".into(),
            roles: vec![Role::Agent],
            unit: None,
            region: None,
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let mut ticket = Ticket::accept(intake, "20261123000001".into(), &agent, now).ticket;
        ticket.version = version;
        ticket
    }

    fn cache(capacity: usize) -> TicketCache {
        TicketCache::new(capacity, TTL, CacheCounters::default())
    }

    #[test]
    fn a_remembered_ticket_is_guessed_until_its_ttl_passes() {
        let cache = cache(4);
        let t = ticket(3);
        let start = Instant::now();
        assert!(
            cache.guess_at(t.id, start).is_none(),
            "nothing remembered yet"
        );
        cache.remember_at(&t, start);
        assert_eq!(cache.guess_at(t.id, start + TTL), Some(t.clone()));
        assert!(
            cache
                .guess_at(t.id, start + TTL + Duration::from_millis(1))
                .is_none()
        );
        assert_eq!(cache.len(), 0, "an expired copy is dropped when met");
    }

    #[test]
    fn a_forgotten_ticket_is_read_again() {
        let cache = cache(4);
        let t = ticket(2);
        cache.remember(&t);
        cache.forget(t.id);
        assert!(cache.guess(t.id).is_none());
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let cache = cache(4);
        let newer = ticket(5);
        let mut older = newer.clone();
        older.version = 4;
        cache.remember(&newer);
        cache.remember(&older);
        assert_eq!(cache.guess(newer.id).map(|t| t.version), Some(5));
        let mut next = newer.clone();
        next.version = 6;
        cache.remember(&next);
        assert_eq!(cache.guess(newer.id).map(|t| t.version), Some(6));
    }

    #[test]
    fn the_least_recently_used_ticket_goes_first_when_full() {
        let cache = cache(2);
        let (a, b, c) = (ticket(1), ticket(1), ticket(1));
        cache.remember(&a);
        cache.remember(&b);
        assert!(cache.guess(a.id).is_some(), "a used: b is now the oldest");
        cache.remember(&c);
        assert_eq!(cache.len(), 2);
        assert!(cache.guess(b.id).is_none());
        assert!(cache.guess(a.id).is_some() && cache.guess(c.id).is_some());
    }

    #[test]
    fn a_size_of_zero_holds_nothing() {
        let cache = cache(0);
        let t = ticket(1);
        cache.remember(&t);
        assert!(!cache.enabled());
        assert!(cache.guess(t.id).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn hits_misses_and_stale_guesses_are_counted() {
        use std::sync::{Arc, atomic::AtomicU64, atomic::Ordering};
        let (hits, misses, stale) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let cache = TicketCache::new(
            4,
            TTL,
            CacheCounters {
                hits: Counter::from_arc(hits.clone()),
                misses: Counter::from_arc(misses.clone()),
                stale: Counter::from_arc(stale.clone()),
            },
        );
        let t = ticket(1);
        cache.guess(t.id);
        cache.remember(&t);
        cache.guess(t.id);
        cache.guess(t.id);
        cache.count_stale();
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!((read(&hits), read(&misses), read(&stale)), (2, 1, 1));
    }
}
