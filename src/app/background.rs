//! The server's background tasks: each loops on its own timer for as long
//! as the server runs, logs what it did, and leaves a failure for its next
//! round (every replica runs them; each round is idempotent).

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use crate::service::{
    ServiceError, Workflow, attachments::Attachments, hotspots::Hotspots, knowledge::Knowledge,
};

/// Runs `round` every `every` on a task of its own, the first time at once
/// when `at_start`. A round that overruns delays the next one rather than
/// bunching the missed ticks.
fn spawn_every<F, Fut>(every: Duration, at_start: bool, mut round: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if !at_start {
            ticker.tick().await;
        }
        loop {
            ticker.tick().await;
            round().await;
        }
    })
}

/// Sweeps for deadline crossings every `every`.
pub(super) fn spawn_sweeper(workflow: Arc<Workflow>, every: Duration) -> JoinHandle<()> {
    spawn_every(every, true, move || {
        let workflow = workflow.clone();
        async move {
            match workflow.sweep().await {
                Ok(report) if report.alerts > 0 => {
                    tracing::info!(
                        alerts = report.alerts,
                        orders = report.orders,
                        "deadline sweep"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e.report(), "deadline sweep failed"),
            }
        }
    })
}

/// Every `every` (and at start), removes abandoned uploads and the files
/// of tickets closed more than `retention_days` ago. Every replica runs it;
/// each removal is idempotent (bytes first, then the row).
pub(super) fn spawn_attachment_upkeep(
    attachments: Arc<Attachments>,
    workflow: Arc<Workflow>,
    every: Duration,
    retention_days: u32,
) -> JoinHandle<()> {
    spawn_every(every, true, move || {
        let (attachments, workflow) = (attachments.clone(), workflow.clone());
        async move {
            let now = workflow.clock().now();
            match attachments.sweep_abandoned(now).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "abandoned attachment uploads removed"),
                Err(e) => tracing::warn!(error = %e.report(), "attachment upload sweep failed"),
            }
            match attachments.purge_expired(now, retention_days).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, "attachments deleted past retention"),
                Err(e) => tracing::warn!(error = %e.report(), "attachment retention purge failed"),
            }
        }
    })
}

/// Every `every` (and at start), summarizes the event log's newest rows
/// into the feed's index, so the live feed's and the webhook outbox's reads
/// of the log's tail stay index-bounded after a bulk load or a burst that
/// outran autovacuum (`hotline_store::OpsStore::summarize_feed_index`).
/// Idempotent; every replica runs it, and a round with nothing new is one
/// cheap statement.
pub(super) fn spawn_feed_index_upkeep(workflow: Arc<Workflow>, every: Duration) -> JoinHandle<()> {
    spawn_every(every, true, move || {
        let workflow = workflow.clone();
        async move {
            match workflow.store().summarize_feed_index().await {
                Ok(0) => {}
                Ok(ranges) => tracing::info!(ranges, "event log ranges summarized for the feed"),
                Err(e) => {
                    tracing::warn!(error = %e.report(), "summarizing the feed's index failed")
                }
            }
        }
    })
}

/// Once, at start: logs a warning for each setting of the database server
/// the service's plans depend on that is off (`OpsStore::maintenance_warnings`:
/// PostgreSQL's autovacuum). A failed check is logged and forgotten; the
/// readiness probe reports an unreachable database.
pub(super) fn spawn_maintenance_check(workflow: Arc<Workflow>) -> JoinHandle<()> {
    tokio::spawn(async move {
        match workflow.store().maintenance_warnings().await {
            Ok(warnings) => {
                for warning in warnings {
                    tracing::warn!("{warning}");
                }
            }
            Err(e) => {
                tracing::debug!(error = %e.report(), "checking the database's maintenance settings failed")
            }
        }
    })
}

/// Every hour (and at start), deletes what `purge` finds past its
/// retention (`what` names it in the log). Every replica purges; the
/// deletes are idempotent.
pub(super) fn spawn_hourly_purge<F, Fut>(
    workflow: Arc<Workflow>,
    what: &'static str,
    purge: F,
) -> JoinHandle<()>
where
    F: Fn(Arc<Workflow>, DateTime<Utc>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, ServiceError>> + Send,
{
    spawn_every(Duration::from_secs(3600), true, move || {
        let now = workflow.clock().now();
        let purged = purge(workflow.clone(), now);
        async move {
            match purged.await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(purged, what, "deleted past retention"),
                Err(e) => tracing::warn!(error = %e.report(), what, "retention purge failed"),
            }
        }
    })
}

/// Every `every`, picks up rule sets, dispatch models, units and calendars
/// that another replica changed (the replica that makes a change applies
/// it at once), and marks failed the dispatch model trainings whose
/// process stopped (`service::model_training`; the server also checks
/// once before it serves).
pub(super) fn spawn_refresh(workflow: Arc<Workflow>, every: Duration) -> JoinHandle<()> {
    spawn_every(every, false, move || {
        let workflow = workflow.clone();
        async move {
            match workflow.router().refresh_if_stale().await {
                Ok(true) => tracing::info!(
                    version = workflow.router().current().version(),
                    "routing rules reloaded"
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e.report(), "routing refresh failed"),
            }
            match workflow.model().refresh_if_stale().await {
                Ok(true) => tracing::info!(
                    version = workflow
                        .model()
                        .current()
                        .as_ref()
                        .as_ref()
                        .map(|m| m.version()),
                    "dispatch model reloaded"
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e.report(), "dispatch model refresh failed"),
            }
            if let Err(e) = workflow.fail_interrupted_trainings().await {
                tracing::warn!(error = %e.report(), "checking for interrupted dispatch model trainings failed");
            }
            if let Err(e) = workflow.refresh_time_limits().await {
                tracing::warn!(error = %e.report(), "time-limit policy refresh failed");
            }
            match workflow.calendar().refresh_if_stale().await {
                Ok(true) => tracing::info!(
                    version = workflow.calendar().current().version(),
                    "calendar reloaded"
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e.report(), "calendar refresh failed"),
            }
        }
    })
}

/// Every `every`, applies to this replica's knowledge index the articles
/// published, revised or retired since it last looked, on any replica.
pub(super) fn spawn_knowledge_follow(knowledge: Arc<Knowledge>, every: Duration) -> JoinHandle<()> {
    spawn_every(every, true, move || {
        let knowledge = knowledge.clone();
        async move { knowledge.follow_round().await }
    })
}

/// The hotspot tasks of this replica: the detector (if enabled), every
/// `hotspots.poll_interval_ms`, starting with its replay; and the poll
/// that wakes this replica's WatchHotspots streams for other replicas'
/// changes (it reads only while someone watches).
pub(super) fn spawn_hotspots(hotspots: &Arc<Hotspots>) -> Vec<JoinHandle<()>> {
    let settings = hotspots.settings();
    let follow = {
        let (changes, store) = (hotspots.changes().clone(), hotspots.store().clone());
        let every = Duration::from_millis(settings.watch_poll_ms.max(1));
        tokio::spawn(async move { changes.follow(store, every).await })
    };
    if !settings.enabled {
        return vec![follow];
    }
    let runner = Arc::new(tokio::sync::Mutex::new(hotspots.runner()));
    let every = Duration::from_millis(settings.poll_interval_ms.max(1));
    let detector = spawn_every(every, true, move || {
        let runner = runner.clone();
        async move {
            match runner.lock().await.round().await {
                Ok(report) if report.detected > 0 => {
                    tracing::info!(
                        detected = report.detected,
                        tickets = report.tickets,
                        "hotspot detector round"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e.report(), "hotspot detector round failed; retrying")
                }
            }
        }
    });
    vec![follow, detector]
}
