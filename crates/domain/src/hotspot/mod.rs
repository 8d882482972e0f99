//! Hotspots (热点): surges of one matter, found while they grow.
//!
//! Each new ticket joins the most similar recent cluster of its street
//! (failing that, a hotspot of another street of its district, at a
//! stricter similarity), or starts one. A cluster becomes a
//! hotspot when its tickets within the window, from enough distinct
//! callers, are improbably many against the usual rate of its area and
//! subject: `P(N ≥ recent) ≤ max_chance` for `N ~ Poisson(λ)`,
//! `λ = rate × window × similar_share`. A busy street needs more similar
//! tickets than a quiet one to be a hotspot. Texts are compared by MinHash
//! sketches of the duplicate search's character 2/3-grams, less the
//! boilerplate shingles common to many recent tickets.
//!
//! What the service records of a hotspot — its state, the supervision item
//! it opens, the decisions taken on it — is [`Hotspot`] (`record`).
//!
//! Pure and deterministic: time comes with each ticket, maps are only
//! looked up (never iterated where order would matter) and ties go to the
//! oldest cluster, so replaying the same tickets in the same order rebuilds
//! the same clusters and hotspots. Memory is bounded: idle clusters and
//! rates are forgotten, and both have caps.

mod baseline;
mod cluster;
mod common;
mod config;
mod detector;
mod record;
#[cfg(test)]
mod record_tests;
pub(crate) mod sketch;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

pub use self::{
    baseline::{Rate, poisson_tail},
    cluster::Heat,
    config::HotspotConfig,
    detector::{Detector, Observation, Stats},
    record::{
        AreaScope, FIRST_RESPONSE_HOURS, Hotspot, HotspotAction, HotspotDecision, HotspotEventKind,
        HotspotHeat, HotspotId, HotspotState, MAX_NOTE_CHARS, SupervisionItem, response_deadline,
    },
    sketch::Sketch,
};

/// A new ticket as the detector sees it.
#[derive(Debug, Clone, Copy)]
pub struct Sighting<'a, Id> {
    /// The ticket.
    pub id: Id,
    /// When it was created.
    pub at: DateTime<Utc>,
    /// Its street (township) code, when it names one.
    pub street: Option<&'a str>,
    /// Its district code.
    pub district: &'a str,
    /// Its subject code (empty when unclassified).
    pub subject: &'a str,
    /// The caller's blind index (never the number): counts distinct callers.
    pub caller: &'a str,
    /// Title.
    pub title: &'a str,
    /// Description.
    pub description: &'a str,
}

impl<Id> Sighting<'_, Id> {
    /// The finest area it names: its street, or else its district.
    pub fn area(&self) -> &str {
        self.street.unwrap_or(self.district)
    }
}

/// Identifies a cluster for as long as the detector runs; never reused.
pub type ClusterId = u64;
