//! A month with duplicates (并单): a matter reported by several callers
//! counts once in the unit scorecards, on the primary's unit, whatever the
//! duplicates' rounds had counted; a merge undone leaves the counters as if
//! it never happened. Same calendar as `scenario` (March 2026; enquiries:
//! sign for by 17:30 of the next working day, reply by the third).

use super::*;
use crate::{
    lifecycle::merge::{Duplicate, plan_merge, plan_unmerge},
    metrics::{Ratio, scorecard},
};

use Satisfaction as Sat;

/// Merges `duplicates` into `primary` at `now`, committing every change.
fn merge(primary: &mut Run, duplicates: &mut [&mut Run], now: DateTime<Utc>) {
    let before = primary.ticket.clone();
    let dups: Vec<Ticket> = duplicates.iter().map(|r| r.ticket.clone()).collect();
    let offered: Vec<Duplicate<'_>> = dups
        .iter()
        .map(|ticket| Duplicate {
            ticket,
            has_duplicates: false,
        })
        .collect();
    let plan = plan_merge(&before, &offered, "同一事项", &agent(), now).unwrap();
    primary.commit(Some(&before), plan.primary);
    for ((run, was), t) in duplicates.iter_mut().zip(&dups).zip(plan.duplicates) {
        run.commit(Some(was), t);
    }
}

fn unmerge(primary: &mut Run, duplicate: &mut Run, now: DateTime<Utc>) {
    let (p, d) = (primary.ticket.clone(), duplicate.ticket.clone());
    let (tp, td) = plan_unmerge(&p, &d, &agent(), now).unwrap();
    primary.commit(Some(&p), tp);
    duplicate.commit(Some(&d), td);
}

/// P and its duplicates, Q and D5; each commented with what it exercises.
fn month() -> Vec<Run> {
    // P (A): the primary, handled on time, very satisfied.
    let mut p = Run::enquiry(at(2, 9, 0));
    p.act(dispatch(A), at(2, 10, 0))
        .act(Action::Sign, at(2, 11, 0));
    // D1 (A): dispatched and signed on time, then merged into P.
    let mut d1 = Run::enquiry(at(2, 9, 10));
    d1.act(dispatch(A), at(2, 10, 30))
        .act(Action::Sign, at(2, 11, 30));
    // D2 (B): never signed; the sweeper records the overdue crossing on its
    // deadline (3/5) before it is merged (3/6): the crossing goes too.
    let mut d2 = Run::enquiry(at(2, 9, 20));
    d2.act(dispatch(B), at(2, 12, 0));
    // D3: merged before dispatch together with D1, unmerged the next day
    // (it was another matter after all), then handled by A.
    let mut d3 = Run::enquiry(at(3, 8, 0));
    merge(&mut p, &mut [&mut d1, &mut d3], at(3, 9, 0));
    unmerge(&mut p, &mut d3, at(4, 9, 0));
    d3.act(dispatch(A), at(4, 10, 0))
        .act(Action::Sign, at(4, 10, 30))
        .act(reply(false), at(5, 10, 0));
    p.act(reply(true), at(4, 15, 0))
        .act(callback(Sat::VerySatisfied, true), at(5, 10, 0))
        .act(close(None), at(5, 10, 5));
    d2.sweep(at(5, 18, 0));
    assert!(d2.ticket.alerts.overdue);
    // P replied: D2 goes into another open primary, Q.
    let mut q = Run::enquiry(at(6, 8, 0));
    merge(&mut q, &mut [&mut d2], at(6, 9, 0));
    // D5 (C): merged into Q after signing, unmerged, then replied by C.
    let mut d5 = Run::enquiry(at(9, 9, 0));
    d5.act(dispatch(C), at(9, 10, 0))
        .act(Action::Sign, at(10, 9, 0));
    merge(&mut q, &mut [&mut d5], at(10, 10, 0));
    unmerge(&mut q, &mut d5, at(11, 9, 0));
    d5.act(reply(false), at(11, 10, 0));
    vec![p, d1, d2, d3, q, d5]
}

#[test]
fn merged_duplicates_count_once_on_every_day() {
    let (a, c) = (Some(A), Some(C));
    let expected = table(&[
        // P, D1, D2 received; D1 and D2 merged for good.
        (None, 2, "received*3 accepted"),
        (None, 3, "received accepted merged"),
        (None, 6, "received accepted merged"),
        (None, 9, "received accepted"),
        // P's round only: D1's is taken back on the days it counted.
        (a, 2, "dispatched signed signed_on_time responded"),
        (
            a,
            4,
            "replied replied_on_time deadline_due dispatched signed signed_on_time responded",
        ),
        (
            a,
            5,
            "rated satisfied resolved replied replied_on_time deadline_due",
        ),
        // B: D2's round and its overdue crossing are gone. C: D5's round,
        // merged and unmerged, as if never merged.
        (c, 9, "dispatched"),
        (c, 10, "signed signed_on_time responded"),
        (c, 11, "replied replied_on_time deadline_due"),
    ]);
    let runs = month();
    let all: Vec<CounterDelta> = runs.iter().flat_map(|r| r.deltas.clone()).collect();
    let got = keyed(&all);
    let mut keys: Vec<_> = expected.keys().chain(got.keys()).collect();
    keys.sort_by_key(|(u, d, c)| (u.clone(), *d, c.code()));
    keys.dedup();
    for key in keys {
        assert_eq!(got.get(key), expected.get(key), "{key:?}");
    }
}

#[test]
fn scorecards_count_the_matter_once() {
    let runs = month();
    let all: Vec<CounterDelta> = runs.iter().flat_map(|r| r.deltas.clone()).collect();
    let card = |id: &str| scorecard(&unit_totals(&all, Some(&unit(id))));
    let r = Ratio::new;
    let a = card(A);
    assert_eq!(a.timely_sign_for, r(2, 2), "P and D3, not D1");
    assert_eq!(a.completion, r(2, 2));
    assert_eq!(a.on_time_completion, r(2, 2));
    assert_eq!(a.satisfaction, r(1, 1));
    let b = card(B);
    assert_eq!(
        (b.timely_sign_for, b.overdue),
        (r(0, 0), 0),
        "D2 left B's card"
    );
    assert_eq!(card(C).timely_sign_for, r(1, 1));
    // The centre: 6 received, 2 merged, 4 accepted.
    let centre = unit_totals(&all, None);
    assert_eq!(centre.get(&Counter::Received), Some(&6));
    assert_eq!(centre.get(&Counter::Merged), Some(&2));
    assert_eq!(centre.get(&Counter::Accepted), Some(&4));
}

#[test]
fn no_day_goes_negative_and_the_trail_replays() {
    for run in month() {
        assert_eq!(
            run.replayed(),
            run.deltas,
            "ticket ended {}",
            run.ticket.state
        );
        let mut running: HashMap<Key, i64> = HashMap::new();
        for d in &run.deltas {
            let total = running
                .entry((d.unit.clone(), d.day, d.counter))
                .or_insert(0);
            *total += d.delta;
            assert!(*total >= 0, "{d:?}");
        }
    }
}
