//! Live alerts: events that need someone's attention now (warnings,
//! overdue, urges, supervision orders), fanned out to `WatchAlerts` streams.
//!
//! In-process: a replica's subscribers see the alerts that replica records.
//! The sweeper runs on every replica, so warnings and overdue reach watchers
//! on whichever replica records them first; cross-replica fan-out (LISTEN/
//! NOTIFY) comes with the live ticket stream.

use tokio::sync::broadcast;

use crate::domain::{TicketEvent, ticket::Ticket};

/// Event kinds that are alerts.
pub const ALERT_KINDS: &[&str] = &[
    "deadline_warning",
    "overdue",
    "sign_overdue",
    "urged",
    "supervision_issued",
    "supervision_answered",
];

/// An alert: the event and the ticket after it (for scope checks).
#[derive(Debug, Clone)]
pub struct Alert {
    /// The ticket after the event.
    pub ticket: Ticket,
    /// The event.
    pub event: TicketEvent,
}

/// Fan-out of alerts to subscribers; slow subscribers miss alerts rather
/// than slowing writers.
#[derive(Debug, Clone)]
pub struct AlertBus {
    tx: broadcast::Sender<Alert>,
}

impl Default for AlertBus {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl AlertBus {
    /// A bus keeping up to `capacity` alerts per lagging subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Publishes the event if it is an alert.
    pub fn publish(&self, ticket: &Ticket, event: &TicketEvent) {
        if ALERT_KINDS.contains(&event.kind.as_str()) {
            let _ = self.tx.send(Alert {
                ticket: ticket.clone(),
                event: event.clone(),
            });
        }
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.tx.subscribe()
    }
}
