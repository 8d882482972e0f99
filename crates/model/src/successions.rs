//! Units retired from the directory (机构改革: abolished, merged, renamed):
//! which unit answers for a retired unit's matters now, so that neither
//! training nor inference ever puts a ticket on a unit that is gone.

use std::collections::HashMap;

use hotline_domain::UnitId;

use crate::train::TrainingTicket;

/// Retired units and their successors (`None`: abolished, no successor).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Successions {
    retired: HashMap<String, Option<String>>,
}

/// What [`Successions::relabel`] did to a training history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Relabelled {
    /// Tickets kept, each labelled with the unit answering for it now.
    pub tickets: Vec<TrainingTicket>,
    /// Tickets whose unit was retired and passed to its successor.
    pub mapped: usize,
    /// Tickets dropped: their unit is gone without successor, or unknown
    /// to the directory.
    pub dropped: usize,
}

impl Successions {
    /// From `(retired unit, successor)` pairs.
    pub fn new(pairs: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        Self {
            retired: pairs.into_iter().collect(),
        }
    }

    /// Whether `unit` is retired.
    pub fn is_retired(&self, unit: &str) -> bool {
        self.retired.contains_key(unit)
    }

    /// The unit that answers for `unit`'s matters now: itself while it is
    /// in the directory and not retired, else its successor's answer (a
    /// chain of renames is followed), else `None`. `exists` says whether a
    /// unit id is in the directory at all.
    pub fn resolve(&self, unit: &str, exists: &dyn Fn(&str) -> bool) -> Option<UnitId> {
        let mut current = unit;
        // Each step leaves a retired unit; more steps than retirements
        // would be a cycle, which the directory cannot hold but a
        // corrupted table could.
        for _ in 0..=self.retired.len() {
            match self.retired.get(current) {
                None => {
                    return exists(current)
                        .then(|| UnitId::parse(current).ok())
                        .flatten();
                }
                Some(None) => return None,
                Some(Some(next)) => current = next,
            }
        }
        None
    }

    /// Labels each ticket with the unit answering for it now; drops those
    /// whose unit is gone.
    pub fn relabel(
        &self,
        tickets: impl IntoIterator<Item = TrainingTicket>,
        exists: &dyn Fn(&str) -> bool,
    ) -> Relabelled {
        let mut out = Relabelled::default();
        for mut ticket in tickets {
            match self.resolve(&ticket.unit, exists) {
                Some(now) => {
                    if now.as_str() != ticket.unit {
                        out.mapped += 1;
                        ticket.unit = now.as_str().to_owned();
                    }
                    out.tickets.push(ticket);
                }
                None => out.dropped += 1,
            }
        }
        out
    }
}
