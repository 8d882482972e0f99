//! Per-principal quotas: a request rate with a burst, and a cap on open
//! server streams, answered RESOURCE_EXHAUSTED with `QuotaFailure` and
//! `RetryInfo` so a well-behaved client knows when to come back.
//!
//! Principals are known only after the token is verified, and the token is
//! verified in the services' interceptor, inside the tower stack; a server
//! layer would run before it. So the rate limit is a second interceptor
//! wrapped around the authenticating one ([`QuotaInterceptor`]), keyed by
//! the token's `sub`. Interceptors do not see which method is called, so
//! the stream cap is taken by the streaming handlers themselves
//! ([`stream_permit`]) from a handle the interceptor leaves in the
//! request's extensions; the permit is held by the stream and given back
//! when the stream is dropped (client gone, token expired, shutdown).

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError, Weak},
    time::Duration,
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use tonic::{Request, Status, service::Interceptor};

use crate::{config::QuotaSettings, domain::Principal, service::ServiceError};

/// How often the rate limiter forgets principals that have been quiet long
/// enough to be back at a full burst: its memory is then bounded by the
/// principals active in the last few seconds, not by all that ever called.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// What a client that hit the stream cap is told to wait: streams end when
/// their clients go, which the server cannot predict.
const STREAM_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The limits and their state, shared by all services.
pub struct Quotas {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    /// The rate limit in words, for `QuotaFailure`.
    rate_description: String,
    /// 0: no cap.
    max_streams: usize,
    /// Open streams by principal; entries at zero are removed.
    open_streams: Mutex<HashMap<String, usize>>,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("rate_limited", &self.limiter.is_some())
            .field("max_streams", &self.max_streams)
            .finish_non_exhaustive()
    }
}

impl Quotas {
    /// The limits of `settings`; a background task (on the current tokio
    /// runtime) trims the limiter's memory while they are in use.
    pub fn from_settings(settings: &QuotaSettings) -> Arc<Self> {
        let limiter = NonZeroU32::new(settings.requests_per_second).map(|rate| {
            let burst = NonZeroU32::new(settings.burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let quotas = Arc::new(Self {
            limiter,
            rate_description: format!(
                "more than {} requests per second (burst {}) from one principal",
                settings.requests_per_second,
                settings.burst.max(settings.requests_per_second)
            ),
            max_streams: usize::try_from(settings.max_streams_per_principal).unwrap_or(usize::MAX),
            open_streams: Mutex::new(HashMap::new()),
        });
        if quotas.limiter.is_some() {
            let weak = Arc::downgrade(&quotas);
            tokio::spawn(forget_quiet_principals(weak));
        }
        quotas
    }

    /// Counts one request of `subject` against its rate.
    pub fn check_rate(&self, subject: &str) -> Result<(), ServiceError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // The owned key is needed only for a principal's first request
        // of a while; `check_key` takes a `&String`.
        let key = subject.to_owned();
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ServiceError::ResourceExhausted {
                subject: subject.to_owned(),
                quota: "RATE_LIMIT",
                description: self.rate_description.clone(),
                // At least a millisecond, so the hint is never "now".
                retry_after: wait.max(Duration::from_millis(1)),
            }
        })
    }

    /// Opens one stream of `subject`, if under the cap.
    pub fn open_stream(self: &Arc<Self>, subject: &str) -> Result<StreamPermit, ServiceError> {
        let mut open = self
            .open_streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(subject.to_owned()).or_insert(0);
        if self.max_streams != 0 && *count >= self.max_streams {
            return Err(ServiceError::ResourceExhausted {
                subject: subject.to_owned(),
                quota: "OPEN_STREAMS",
                description: format!(
                    "at most {} open streams per principal; close one first",
                    self.max_streams
                ),
                retry_after: STREAM_RETRY_AFTER,
            });
        }
        *count += 1;
        Ok(StreamPermit {
            quotas: self.clone(),
            subject: subject.to_owned(),
        })
    }

    /// Open streams of `subject` (tests, diagnostics).
    pub fn open_streams(&self, subject: &str) -> usize {
        self.open_streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(subject)
            .copied()
            .unwrap_or(0)
    }
}

async fn forget_quiet_principals(quotas: Weak<Quotas>) {
    let mut ticker = tokio::time::interval(FORGET_EVERY);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(quotas) = quotas.upgrade() else {
            return;
        };
        if let Some(limiter) = &quotas.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// One open stream of a principal, counted until dropped.
#[derive(Debug)]
pub struct StreamPermit {
    quotas: Arc<Quotas>,
    subject: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self
            .quotas
            .open_streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.subject) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.subject);
            }
        }
    }
}

/// What the interceptor leaves in a request for its handler: the quotas and
/// whose request it is.
#[derive(Debug, Clone)]
struct StreamQuota {
    quotas: Arc<Quotas>,
    subject: String,
}

/// A permit for one more stream of the request's principal; `None` when no
/// quota interceptor ran (tests building services by hand).
pub fn stream_permit<T>(request: &Request<T>) -> Result<Option<StreamPermit>, Status> {
    request
        .extensions()
        .get::<StreamQuota>()
        .map(|q| q.quotas.open_stream(&q.subject))
        .transpose()
        .map_err(Status::from)
}

/// Runs `inner` (the authenticating interceptor), then charges the
/// principal it found.
#[derive(Debug, Clone)]
pub struct QuotaInterceptor<I> {
    inner: I,
    quotas: Arc<Quotas>,
}

impl<I> QuotaInterceptor<I> {
    /// Wraps `inner`, which must put a [`Principal`] in the extensions.
    pub fn new(inner: I, quotas: Arc<Quotas>) -> Self {
        Self { inner, quotas }
    }
}

impl<I: Interceptor> Interceptor for QuotaInterceptor<I> {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let mut request = self.inner.call(request)?;
        let Some(subject) = request
            .extensions()
            .get::<Principal>()
            .map(|p| p.subject.clone())
        else {
            return Ok(request);
        };
        self.quotas.check_rate(&subject)?;
        request.extensions_mut().insert(StreamQuota {
            quotas: self.quotas.clone(),
            subject,
        });
        Ok(request)
    }
}
