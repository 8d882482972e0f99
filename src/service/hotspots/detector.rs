//! The detector of one replica: follows the new tickets of every replica
//! in the event log's commit order, feeds them to the pure detector
//! (`domain::hotspot::Detector`) and records what it finds.
//!
//! **Why the log and not a poll of new ticket ids.** Ticket ids are
//! UUIDv7s drawn from the clock before the insert commits, and on
//! PostgreSQL concurrent intakes commit out of id order: "ids above the
//! last one seen" would skip a ticket that committed late. The log's
//! commit order has no such gaps (`store::FeedStore`), and it is one total
//! order that every replica reads identically.
//!
//! **Off the intake path.** CreateTicket only commits its ticket; this
//! task, on its own timer, reads what was committed since it last looked,
//! so the detector's cost never delays an intake.
//!
//! **Restart and replicas.** At start the detector replays the tickets of
//! its longest retention (`hotspot_idle_minutes`) in the same order, so a
//! restarted replica holds the clusters a running one holds and reaches
//! the same hotspots. Recording is idempotent (`store::HotspotStore`): the
//! hotspot a replica rediscovers in its replay, or that two replicas find
//! together, is one row with one supervision item. What a replay cannot
//! rebuild — the usual rates and boilerplate counts of the days before its
//! window — only shifts when a borderline cluster turns hot; the first
//! replica to see it records it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};

use super::watch::HotspotChanges;
use crate::{
    domain::{
        Clock, TicketId,
        hotspot::{ClusterId, Detector, HotspotConfig, HotspotId, Sighting},
    },
    service::{ServiceError, instruments::HotspotInstruments},
    store::{FeedPosition, HotspotSighting, Store, TicketSighting},
};

/// Tickets read per query.
const READ_BATCH: u32 = 500;

/// The lag is counted up to this many tickets (a cheap, bounded count).
const LAG_CAP: u32 = 100_000;

/// What the runner knows of one of the detector's clusters.
#[derive(Debug)]
struct Tracked {
    /// Its first ticket: the hotspot's natural key.
    seed: TicketId,
    /// Where it started.
    area: String,
    district: String,
    subject: String,
    /// Its tickets before it turned hot (recorded with it), at most
    /// `max_members`.
    early: Vec<(TicketId, DateTime<Utc>)>,
    /// Whether the detector declared it a hotspot.
    hot: bool,
    /// The hotspot it is recorded as.
    recorded: Option<HotspotId>,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Tickets read.
    pub tickets: usize,
    /// Hotspots this round recorded first.
    pub detected: usize,
    /// Hotspots it added tickets or heat to.
    pub grown: usize,
}

/// The detector of this replica and where it is in the log.
#[derive(Debug)]
pub struct HotspotRunner {
    store: std::sync::Arc<dyn Store>,
    clock: std::sync::Arc<dyn Clock>,
    detector: Detector<TicketId>,
    /// How far back a start replays, and how old a ticket may be and still
    /// count (older ones are history brought in by an import).
    retention: Duration,
    cursor: Option<FeedPosition>,
    /// Creation time of the latest ticket read (for the lag).
    latest: Option<DateTime<Utc>>,
    clusters: HashMap<ClusterId, Tracked>,
    /// Sightings not yet recorded, by cluster (in cluster order: the
    /// order the clusters started in).
    pending: BTreeMap<ClusterId, HotspotSighting>,
    changes: HotspotChanges,
    instruments: HotspotInstruments,
}

impl HotspotRunner {
    /// A runner with an empty detector; its first round replays.
    pub fn new(
        store: std::sync::Arc<dyn Store>,
        clock: std::sync::Arc<dyn Clock>,
        config: HotspotConfig,
        changes: HotspotChanges,
        instruments: HotspotInstruments,
    ) -> Self {
        let longest = config
            .hotspot_idle_minutes
            .max(config.cluster_idle_minutes)
            .max(config.window_minutes);
        Self {
            store,
            clock,
            retention: Duration::minutes(i64::from(longest)),
            detector: Detector::new(config),
            cursor: None,
            latest: None,
            clusters: HashMap::new(),
            pending: BTreeMap::new(),
            changes,
            instruments,
        }
    }

    /// Records what is pending, then reads and observes every ticket
    /// committed since the last round (the first round starts with the
    /// replay), recording after each batch. A failure keeps the place and
    /// what is pending for the next round.
    pub async fn round(&mut self) -> Result<RoundReport, ServiceError> {
        let mut report = RoundReport::default();
        self.flush(&mut report).await?;
        let floor = self.clock.now() - self.retention;
        let mut cursor = match self.cursor {
            Some(cursor) => cursor,
            None => self.start(floor).await?,
        };
        self.cursor = Some(cursor);
        loop {
            let batch = self.store.read_sightings(cursor, READ_BATCH).await?;
            for sighting in &batch {
                if sighting.create_time >= floor {
                    self.observe(sighting);
                }
                cursor = sighting.position;
            }
            self.cursor = Some(cursor);
            report.tickets += batch.len();
            let caught_up = batch.len() < READ_BATCH as usize;
            // Counted only while behind: a caught-up round is one read.
            let behind = if caught_up {
                0
            } else {
                self.store
                    .tickets_created_after(self.latest.unwrap_or(floor), LAG_CAP)
                    .await?
            };
            #[allow(clippy::cast_precision_loss)] // at most LAG_CAP
            self.instruments.lag_tickets.set(behind as f64);
            self.flush(&mut report).await?;
            if caught_up {
                break;
            }
        }
        let detector = &self.detector;
        self.clusters.retain(|id, _| detector.holds(*id));
        #[allow(clippy::cast_precision_loss)] // bounded by max_clusters
        self.instruments
            .clusters
            .set(self.detector.stats().clusters as f64);
        Ok(report)
    }

    /// Where the replay starts: before the first ticket created since
    /// `floor`, or the log's head when there is none.
    async fn start(&self, floor: DateTime<Utc>) -> Result<FeedPosition, ServiceError> {
        Ok(match self.store.replay_start(floor).await? {
            Some(position) => position,
            None => self.store.feed_head().await?,
        })
    }

    /// Feeds one ticket to the detector and notes what it made of it.
    fn observe(&mut self, s: &TicketSighting) {
        // The baseline counts a street's rate per first-level subject, as
        // the evaluation does: finer codes split the rate too thin.
        let subject = s
            .subject
            .as_deref()
            .and_then(|c| c.split('.').next())
            .unwrap_or_default();
        let caller = s.caller.clone().unwrap_or_else(|| s.id.to_string());
        let district = s.region.district();
        let street = s.region.street();
        let observation = self.detector.observe(&Sighting {
            id: s.id,
            at: s.create_time,
            street,
            district,
            subject,
            caller: &caller,
            title: &s.title,
            description: &s.description,
        });
        self.latest = self.latest.max(Some(s.create_time));
        let cap = self.detector.config().max_members;
        let tracked = self
            .clusters
            .entry(observation.cluster)
            .or_insert_with(|| Tracked {
                seed: s.id,
                area: street.unwrap_or(district).to_owned(),
                district: district.to_owned(),
                subject: subject.to_owned(),
                early: Vec::new(),
                hot: false,
                recorded: None,
            });
        let ticket = (s.id, s.create_time);
        if !tracked.hot && tracked.early.len() < cap {
            tracked.early.push(ticket);
        }
        let heat = match observation.became_hotspot {
            Some(heat) => {
                tracked.hot = true;
                Some(heat)
            }
            None if tracked.hot => self.detector.heat_of(
                observation.cluster,
                self.detector.now().unwrap_or(s.create_time),
            ),
            None => None,
        };
        let Some(heat) = heat else { return };
        let pending = self
            .pending
            .entry(observation.cluster)
            .or_insert_with(|| HotspotSighting {
                known: tracked.recorded,
                new_id: HotspotId::generate(s.create_time),
                seed_ticket: tracked.seed,
                area: tracked.area.clone(),
                district: tracked.district.clone(),
                subject: tracked.subject.clone(),
                heat: heat.clone(),
                tickets: if tracked.recorded.is_some() {
                    Vec::new()
                } else {
                    std::mem::take(&mut tracked.early)
                },
                now: s.create_time,
            });
        pending.heat = heat;
        if !pending.tickets.contains(&ticket) {
            pending.tickets.push(ticket);
        }
    }

    /// Records the pending sightings, oldest cluster first; stops at the
    /// first failure, keeping it and the rest.
    async fn flush(&mut self, report: &mut RoundReport) -> Result<(), ServiceError> {
        while let Some(mut entry) = self.pending.first_entry() {
            let now = self.clock.now();
            let sighting = entry.get_mut();
            sighting.now = now;
            sighting.new_id = HotspotId::generate(now);
            let recorded = self.store.record_hotspot(sighting).await?;
            let cluster = *entry.key();
            entry.remove();
            if let Some(tracked) = self.clusters.get_mut(&cluster) {
                tracked.recorded = Some(recorded.id);
            }
            if recorded.created {
                report.detected += 1;
                self.instruments.detected.increment(1);
                tracing::info!(hotspot = %recorded.id.name(), "hotspot detected");
            } else if recorded.changed {
                report.grown += 1;
            }
            if let Some(seq) = recorded.change_seq {
                self.changes.seen(seq);
            }
        }
        Ok(())
    }
}
