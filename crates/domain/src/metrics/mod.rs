//! Unit metrics (DOMAIN.md §6): incremental per-unit-per-day counters, the
//! scorecard computed from them, and rankings.
//!
//! Pure: no storage, no transport, no clock. Storage applies
//! [`deltas`] of each committed transition in the same transaction as its
//! event, keyed by (unit or centre, local day, [`Counter`]); a period's
//! scorecard sums the keys of its days and calls [`scorecard`], so a month
//! over millions of tickets reads at most units × days × counters rows.
//! [`replay`] recomputes the same deltas from a ticket's raw event trail.
//!
//! # Counting rules
//!
//! * **Rounds.** Unit rates count handling rounds: a round starts with a
//!   dispatch, a re-dispatch after an approved return, or a reopen (重办),
//!   and belongs to its lead unit. Each round counts at most once in
//!   `dispatched`, `signed`, `signed_on_time`, `responded`, `replied`,
//!   `replied_on_time` and `deadline_due`, so every rate stays within 0–100 %.
//! * **Attribution.** A count goes to the lead unit at the time of the event;
//!   a return's to the returning unit; a reopen's to the unit whose reply was
//!   reopened (the new round's `dispatched` to the new round's unit).
//! * **Days.** Counts fall on the local day (the centre's UTC offset) of the
//!   event, except the two that depend on a deadline (below). Corrections
//!   (a reply sent back, an overdue crossing undone by a late-granted
//!   extension, an exclusion of an accepted ticket) take the count back on
//!   the day it was made, so each (unit, day, counter) total is the count of
//!   facts that still stand, never negative; a correction may therefore
//!   change a past day, which is why published months are frozen snapshots.
//! * **On-time completion and `deadline_due`.** A round falls due for
//!   on-time assessment exactly once, when its outcome is settled: if the
//!   lead unit replies by the reply deadline in force (extensions included)
//!   it falls due on the reply day, together with `replied_on_time`; if the
//!   deadline passes unreplied it falls due on the deadline's own day,
//!   together with `overdue`. The crossing is counted when the sweeper
//!   records it (`overdue` event), or at the late reply or approved return
//!   if that came first, always on the deadline's day whatever the sweeper's
//!   delay. This is DOMAIN's "deadline fell in the period or replied in it"
//!   with each round counted once: a round replied late in a later period
//!   counts only in its deadline's period (as not on time), so periods add up.
//!   Nothing is counted at dispatch, so extensions need no moving of counts
//!   and a live month never holds rounds whose outcome is still open; an
//!   extension granted after the crossing was recorded takes the crossing
//!   back, and the round falls due again under the new deadline. A round
//!   dispatched without deadlines cannot be late.
//! * **Exclusions.** Not accepted, emergency hand-offs and merged duplicates
//!   are counted at the centre and taken out of `accepted`.
//! * **Merged duplicates (并单) are not counted twice.** A matter reported by
//!   several callers counts once, on the primary's lead unit. Merging needs
//!   an unreplied duplicate, so the duplicate's current round has counted at
//!   most its start, its signing and a recorded overdue crossing: the merge
//!   (`merged_into`) takes exactly those back from the round's unit, on the
//!   days they were counted (`dispatched` on the round's start day,
//!   `signed`/`signed_on_time`/`responded` on the signing day, `overdue` and
//!   `deadline_due` on the deadline's day), and counts `merged` at the
//!   centre. Undoing the merge (`unmerged`) puts the same counts back on the
//!   same days and takes `merged` back on the merge day, so a merge undone
//!   leaves the scorecards as if it never happened. Earlier rounds of the
//!   duplicate (returned, approved, rated) stay: they were real work of
//!   those units. The primary's `merged_from` counts nothing.
//! * **Ratings.** Every rated callback counts (a reopened ticket is rated
//!   again for its new round); not rated closes count in `not_rated` only.
//! * **Determinism.** [`deltas`] depends only on the ticket before and the
//!   transition, and reads only facts the event trail records, so replaying
//!   the log gives identical counters.

mod counters;
mod period;
mod ranking;
mod replay;
mod scorecard;
mod sum_plan;

#[cfg(test)]
mod tests;

pub use counters::{Counter, CounterDelta, deltas, rating_counter, totals};
pub use period::Month;
pub use ranking::{RankedUnit, RankingWeights, rank, rank_unit_sums, weighted_score};
pub use replay::replay;
pub use scorecard::{COUNTS, RATES, RateDefinition, Ratio, Scorecard, metric_counters, scorecard};
pub use sum_plan::{SumPart, sum_plan};
