//! Readiness: whether this replica should get traffic, published to gRPC
//! health (per service and for the whole server) and to `/readyz`.
//!
//! Ready means the database answers and the server is not draining. A
//! probe pings the store every `health.probe_interval_ms`; the replica
//! turns NOT_SERVING once the database has failed every probe for
//! `health.database_grace_secs` (a blip shorter than that turns no
//! traffic away) and SERVING again at the first success. Draining after
//! SIGTERM is NOT_SERVING for good.
//!
//! Liveness is apart: the service name [`LIVENESS`] is SERVING for as long
//! as the process answers, database or not, so an orchestrator restarts a
//! hung process but not one waiting for its database.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tonic_health::{ServingStatus, server::HealthReporter};

use super::Telemetry;
use crate::store::Store;

/// The health service name that reports liveness only.
pub const LIVENESS: &str = "liveness";

/// The readiness of one application.
pub struct Readiness {
    reporter: HealthReporter,
    /// gRPC service names whose status follows readiness, with `""`.
    services: Vec<&'static str>,
    database_up: AtomicBool,
    draining: AtomicBool,
    /// Serialises publishing, so a probe that read "ready" cannot publish
    /// SERVING after the drain published NOT_SERVING.
    publishing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("database_up", &self.database_up.load(Ordering::Relaxed))
            .field("draining", &self.draining.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Why the replica is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    /// The database failed the probe for longer than the grace period.
    DatabaseDown,
    /// Shutting down.
    Draining,
}

impl Readiness {
    /// Readiness published through `reporter` for `services` (their full
    /// gRPC names) and `""`; starts ready, since the application was just
    /// built on a reachable database.
    pub fn new(reporter: HealthReporter, services: &[&'static str]) -> Self {
        let mut services = services.to_vec();
        services.push("");
        Self {
            reporter,
            services,
            database_up: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            publishing: tokio::sync::Mutex::new(()),
        }
    }

    /// `Ok` when ready, else why not.
    pub fn check(&self) -> Result<(), NotReady> {
        if self.draining.load(Ordering::Acquire) {
            Err(NotReady::Draining)
        } else if !self.database_up.load(Ordering::Acquire) {
            Err(NotReady::DatabaseDown)
        } else {
            Ok(())
        }
    }

    /// Publishes the current readiness to every service name, and
    /// liveness.
    pub async fn publish(&self) {
        let _one_at_a_time = self.publishing.lock().await;
        let status = match self.check() {
            Ok(()) => ServingStatus::Serving,
            Err(_) => ServingStatus::NotServing,
        };
        for name in &self.services {
            self.reporter.set_service_status(*name, status).await;
        }
        self.reporter
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
    }

    /// Shutting down: NOT_SERVING from now on, whatever the database.
    pub async fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
        self.publish().await;
    }

    /// Records a probe result; publishes when readiness changes.
    async fn set_database_up(&self, up: bool) {
        if self.database_up.swap(up, Ordering::AcqRel) != up {
            self.publish().await;
        }
    }

    /// Probes the database every `every` (a ping with no answer within
    /// `every` counts as failed) and reports it down after `grace` of
    /// failures; ends when aborted.
    pub(crate) fn spawn_probe(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        telemetry: Arc<Telemetry>,
        every: Duration,
        grace: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let readiness = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_success = Instant::now();
            // One ping at a time: a ping that outlives its tick keeps
            // running (and counts as a failure) rather than being dropped
            // and followed by another, so a hung database holds at most one
            // connection for the probe.
            let mut in_flight: Option<tokio::task::JoinHandle<_>> = None;
            loop {
                ticker.tick().await;
                let ping = in_flight.get_or_insert_with(|| {
                    let store = store.clone();
                    tokio::spawn(async move { store.ping().await })
                });
                let error = match tokio::time::timeout(every, &mut *ping).await {
                    Ok(joined) => {
                        in_flight = None;
                        match joined {
                            Ok(Ok(())) => None,
                            Ok(Err(e)) => Some(e.to_string()),
                            Err(e) => Some(format!("probe failed: {e}")),
                        }
                    }
                    Err(_) => Some(format!("no answer within {every:?}")),
                };
                telemetry.set_database_up(error.is_none());
                match error {
                    None => {
                        last_success = Instant::now();
                        if readiness.check() == Err(NotReady::DatabaseDown) {
                            tracing::info!("database reachable again: SERVING");
                        }
                        readiness.set_database_up(true).await;
                    }
                    Some(error) if last_success.elapsed() >= grace => {
                        if readiness.database_up.load(Ordering::Acquire) {
                            tracing::warn!(
                                %error,
                                down_for = ?last_success.elapsed(),
                                "database unreachable: NOT_SERVING"
                            );
                        }
                        readiness.set_database_up(false).await;
                    }
                    Some(error) => tracing::debug!(%error, "database probe failed"),
                }
            }
        })
    }
}
