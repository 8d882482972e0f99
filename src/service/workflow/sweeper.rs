//! The sweeper: deadline crossings recorded as they fall due, on any
//! number of replicas at once.

use super::Workflow;
use crate::{
    domain::{Transition, ticket::Ticket},
    service::ServiceError,
    store::StoreError,
};

/// What one sweep recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Deadline crossings recorded.
    pub alerts: usize,
    /// Supervision orders issued automatically.
    pub orders: usize,
    /// Hotspots whose supervision item went overdue: alerts raised.
    pub hotspot_alerts: usize,
}

/// Tickets read per sweep query.
const SWEEP_BATCH: u32 = 200;

impl Workflow {
    /// Records every deadline crossing due now: one event per crossing, and
    /// an automatic supervision order on overdue when configured. Safe to
    /// run on several replicas at once: each write is conditional on the
    /// ticket's version, so a crossing another replica recorded first is
    /// skipped, never recorded twice.
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        self.instruments.sweeper_rounds.increment(1);
        let mut report = self.sweep_round().await?;
        self.instruments
            .sweeper_crossings
            .increment(u64::try_from(report.alerts).unwrap_or(u64::MAX));
        report.hotspot_alerts = self.sweep_hotspots().await?;
        self.instruments
            .hotspot_overdue_alerts
            .increment(u64::try_from(report.hotspot_alerts).unwrap_or(u64::MAX));
        Ok(report)
    }

    /// Raises the alert of every hotspot whose 5-hour supervision item
    /// passed unanswered (docs/hotspots.md), once per hotspot however many
    /// replicas sweep: the store writes the alert's mark only while the
    /// item is unanswered and unmarked, inside the hotspot change
    /// sequence's lock, so a second replica's write finds it marked and
    /// writes nothing, and a later sweep does not select it again. The
    /// alert is that change: `WatchAlerts` streams on every replica follow
    /// the change sequence (woken by its poll) and send it once, as
    /// `hotspot_overdue`. Returns how many this replica raised.
    async fn sweep_hotspots(&self) -> Result<usize, ServiceError> {
        let now = self.clock.now();
        let mut raised = 0;
        loop {
            let batch = self.store.raise_overdue_alerts(now, SWEEP_BATCH).await?;
            for hotspot in &batch {
                tracing::info!(hotspot = %hotspot.id.name(), "hotspot overdue: alert raised");
            }
            raised += batch.len();
            if batch.len() < SWEEP_BATCH as usize {
                return Ok(raised);
            }
        }
    }

    /// One round of [`Workflow::sweep`]: batches of due tickets, most
    /// overdue first, until none is left or none makes progress.
    async fn sweep_round(&self) -> Result<SweepReport, ServiceError> {
        let mut report = SweepReport::default();
        loop {
            let now = self.clock.now();
            let due = self.store.due_for_sweep(now, SWEEP_BATCH).await?;
            self.record_lag(&due, now);
            let mut progressed = false;
            for ticket in &due {
                let (recorded, orders) = self.sweep_ticket(ticket.clone(), now).await?;
                report.alerts += recorded;
                report.orders += orders;
                progressed |= recorded > 0;
            }
            if due.len() < SWEEP_BATCH as usize || !progressed {
                return Ok(report);
            }
        }
    }

    /// `hotline_sweeper_lag_seconds`: how long the oldest crossing not yet
    /// recorded has been due. The batch comes most overdue first, so its
    /// first ticket tells, at no extra query; 0 when nothing is due.
    fn record_lag(&self, due: &[Ticket], now: chrono::DateTime<chrono::Utc>) {
        let lag = due
            .first()
            .and_then(Ticket::next_alert_at)
            .map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
        self.instruments.sweeper_lag_seconds.set(lag);
    }

    /// Records the crossings due on one ticket; stops at the first lost race.
    async fn sweep_ticket(
        &self,
        mut ticket: Ticket,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(usize, usize), ServiceError> {
        let (mut recorded, mut orders) = (0, 0);
        let auto_order = self
            .supervision
            .auto_order_on_overdue
            .then(|| self.order_response_deadline(None));
        while let Some(batch) = ticket.sweep_crossing(now, auto_order)? {
            let issued_order = batch.len() > 1;
            let Some(after) = self.commit(&ticket, batch).await? else {
                break;
            };
            recorded += 1;
            orders += usize::from(issued_order);
            ticket = after;
        }
        Ok((recorded, orders))
    }

    /// Commits system transitions atomically; `None` when another writer won.
    async fn commit(
        &self,
        before: &Ticket,
        batch: Vec<Transition>,
    ) -> Result<Option<Ticket>, ServiceError> {
        // A crossing moves the version: a verb's cached copy would only
        // cost a refused write.
        self.tickets.forget(before.id);
        match self
            .store
            .apply_transitions(
                before.version,
                &batch,
                &self.counters_of(Some(before), &batch),
                None,
            )
            .await
        {
            Ok(()) => {
                self.committed();
                Ok(batch.into_iter().last().map(|t| t.ticket))
            }
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
