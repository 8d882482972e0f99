//! Counters, their ledger and frozen months; commit announcements.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::NaiveDate;
use tokio_stream::StreamExt;

use hotline_domain::{
    Action, Ticket, TicketId, UnitId,
    metrics::{Counter, CounterDelta, Month},
    ticket::RequestType,
};

use crate::{CounterScope, CounterSource, NewTicket, Store};

use super::fixtures::{
    agent, beijing_day, day, dispatch, intake, is_already_exists, is_not_found, seed_units, t0,
    unit_id,
};

fn delta(unit: Option<&str>, on: NaiveDate, counter: Counter, delta: i64) -> CounterDelta {
    CounterDelta {
        unit: unit.map(unit_id),
        day: on,
        counter,
        delta,
    }
}

/// Creates a ticket with the given counter changes.
async fn create_counting(store: &dyn Store, counters: Vec<CounterDelta>) -> Ticket {
    let created = Ticket::accept(
        intake("330106", RequestType::Complaint, None),
        String::new(),
        &agent(),
        t0(),
    );
    store
        .create_ticket(
            NewTicket {
                created,
                followups: Vec::new(),
                counters,
                local_day: beijing_day(t0()),
            },
            None,
        )
        .await
        .expect("create_ticket")
}

async fn sums(
    store: &dyn Store,
    scope: CounterScope,
    source: CounterSource,
) -> HashMap<Counter, i64> {
    store
        .sum_counters(&scope, source)
        .await
        .expect("sum_counters")
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .collect()
}

fn days(from: NaiveDate, to: NaiveDate) -> CounterSource {
    CounterSource::Days { from, to }
}

/// Counter sums follow the scope (centre, unit, subtree, region) and the
/// days; per-unit sums cover a region's units in unit order; the ledger
/// names the tickets behind every sum, changes that cancel out dropping out.
pub async fn counters_sum_by_scope_and_explain_by_ticket(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await; // market-regulation 330100; d330106 ⊃ s330106001
    let (d1, d2, d3) = (day(2026, 3, 2), day(2026, 3, 3), day(2026, 3, 4));
    use Counter as C;
    let a = create_counting(
        store,
        vec![
            delta(None, d1, C::Received, 1),
            delta(None, d1, C::Accepted, 1),
            delta(Some("market-regulation"), d1, C::Dispatched, 1),
        ],
    )
    .await;
    let b = create_counting(
        store,
        vec![
            delta(Some("d330106"), d1, C::Dispatched, 1),
            delta(Some("s330106001"), d2, C::Dispatched, 1),
        ],
    )
    .await;
    let c = create_counting(store, vec![delta(Some("s330106001"), d2, C::Dispatched, 1)]).await;
    // A later change takes C's count back.
    let moved = c
        .apply(dispatch("d330106"), &agent(), t0())
        .expect("dispatch");
    store
        .apply_transitions(
            c.version,
            std::slice::from_ref(&moved),
            &[delta(Some("s330106001"), d2, C::Dispatched, -1)],
            None,
        )
        .await
        .expect("apply_transitions");

    let window = days(d1, d3);
    let only = |c: Counter, n: i64| HashMap::from([(c, n)]);
    assert_eq!(
        sums(
            store,
            CounterScope::Unit(unit_id("market-regulation")),
            window
        )
        .await,
        only(C::Dispatched, 1)
    );
    assert_eq!(
        sums(store, CounterScope::Centre, window).await,
        HashMap::from([(C::Received, 1), (C::Accepted, 1)]),
        "the centre's own counters"
    );
    assert_eq!(
        sums(store, CounterScope::Subtree(unit_id("d330106")), window).await,
        only(C::Dispatched, 2),
        "the district and its street"
    );
    assert_eq!(
        sums(store, CounterScope::Region("330106".into()), window).await,
        only(C::Dispatched, 2)
    );
    assert_eq!(
        sums(store, CounterScope::Region("3301".into()), window).await,
        only(C::Dispatched, 3),
        "a region's units, not the centre"
    );
    assert!(
        sums(
            store,
            CounterScope::Unit(unit_id("s330106001")),
            days(d1, d2)
        )
        .await
        .is_empty(),
        "the end day is exclusive"
    );

    let by_unit = store
        .sum_counters_by_unit(Some("330106"), window)
        .await
        .expect("sum_counters_by_unit");
    assert_eq!(
        by_unit,
        vec![
            (unit_id("d330106"), C::Dispatched, 1),
            (unit_id("s330106001"), C::Dispatched, 1),
        ]
    );
    let all_units = store
        .sum_counters_by_unit(None, window)
        .await
        .expect("all units");
    assert_eq!(
        all_units.len(),
        3,
        "every unit, never the centre: {all_units:?}"
    );

    let subtree = CounterScope::Subtree(unit_id("d330106"));
    let behind = store
        .counter_tickets(&subtree, &[C::Dispatched], d1, d3, None, 10)
        .await
        .expect("counter_tickets");
    assert_eq!(behind, vec![(b.id, 2)], "C's +1 and -1 cancel out");
    let centre = store
        .counter_tickets(
            &CounterScope::Centre,
            &[C::Received, C::Accepted],
            d1,
            d3,
            None,
            10,
        )
        .await
        .expect("centre tickets");
    assert_eq!(
        centre,
        vec![(a.id, 2)],
        "contributions of several counters add up"
    );

    // Paging by ticket id.
    let region = CounterScope::Region("3301".into());
    let mut expected = vec![(a.id, 1), (b.id, 2)];
    expected.sort();
    let first = store
        .counter_tickets(&region, &[C::Dispatched], d1, d3, None, 1)
        .await
        .expect("page 1");
    let after: Option<TicketId> = first.last().map(|(id, _)| *id);
    let second = store
        .counter_tickets(&region, &[C::Dispatched], d1, d3, after, 10)
        .await
        .expect("page 2");
    assert_eq!([first, second].concat(), expected);
}

/// A frozen month keeps the sums it had; later changes to its days show in
/// the live sums only; a month freezes once; an unfrozen month is not found.
pub async fn frozen_months_keep_their_sums(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let march: Month = "2026-03".parse().expect("month");
    let (d1, april) = (day(2026, 3, 2), day(2026, 4, 1));
    let market = || Some("market-regulation");
    create_counting(store, vec![delta(market(), d1, Counter::Dispatched, 1)]).await;
    create_counting(store, vec![delta(market(), april, Counter::Dispatched, 1)]).await;

    assert!(
        store
            .frozen_month(march)
            .await
            .expect("frozen_month")
            .is_none()
    );
    let frozen = store
        .freeze_month(march, "admin-root", t0())
        .await
        .expect("freeze_month");
    assert_eq!(
        (frozen.month, frozen.frozen_by.as_str(), frozen.freeze_time),
        (march, "admin-root", t0())
    );
    assert_eq!(
        store.frozen_month(march).await.expect("read back"),
        Some(frozen)
    );
    assert!(is_already_exists(
        &store.freeze_month(march, "again", t0()).await
    ));

    create_counting(store, vec![delta(market(), d1, Counter::Dispatched, 1)]).await;
    let unit = CounterScope::Unit(unit_id("market-regulation"));
    let live = sums(store, unit.clone(), days(march.first_day(), march.end())).await;
    assert_eq!(live, HashMap::from([(Counter::Dispatched, 2)]));
    let snapshot = sums(store, unit.clone(), CounterSource::Frozen(march)).await;
    assert_eq!(
        snapshot,
        HashMap::from([(Counter::Dispatched, 1)]),
        "April and later changes stay out"
    );
    let ranked = store
        .sum_counters_by_unit(Some("3301"), CounterSource::Frozen(march))
        .await
        .expect("frozen per unit");
    assert_eq!(
        ranked,
        vec![(unit_id("market-regulation"), Counter::Dispatched, 1)]
    );

    let april_month: Month = "2026-04".parse().expect("month");
    assert!(is_not_found(
        &store
            .sum_counters(&unit, CounterSource::Frozen(april_month))
            .await
    ));
}

/// A backend that announces commits (PostgreSQL; SQLite is one process,
/// which publishes its own writes) lets a subscriber hear each committed
/// write once with the event sequences it added; a write that fails
/// announces nothing.
pub async fn commits_are_announced_once_after_commit(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let mut commits = store
        .subscribe_commits()
        .await
        .expect("subscribe")
        .expect("this backend announces commits");
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), commits.next())
            .await
            .expect("announced within 5 s")
            .expect("stream open")
            .expect("notice")
    };
    let created = create_counting(store, Vec::new()).await;
    let notice = next().await;
    assert_eq!(
        (notice.ticket, notice.first_sequence, notice.last_sequence),
        (created.id, 1, 1)
    );

    let unknown: UnitId = unit_id("no-such-unit");
    let bad = created
        .apply(dispatch(unknown.as_str()), &agent(), t0())
        .expect("domain allows it");
    assert!(
        store
            .apply_transition(created.version, &bad, None)
            .await
            .is_err()
    );
    let good = created
        .apply(dispatch("market-regulation"), &agent(), t0())
        .expect("dispatch");
    let noted = good
        .ticket
        .apply(
            Action::AddProgressNote {
                text: "已联系".into(),
            },
            &agent(),
            t0(),
        )
        .expect("note");
    store
        .apply_transitions(created.version, &[good, noted], &[], None)
        .await
        .expect("apply_transitions");
    let notice = next().await;
    assert_eq!(
        (notice.ticket, notice.first_sequence, notice.last_sequence),
        (created.id, 2, 3),
        "the failed dispatch was never announced"
    );
}

/// A period's sums are the same whether the store reads them from whole
/// months (less the days outside the period) or from days: the month
/// totals change with the day totals, in the same statement.
pub async fn month_totals_sum_as_their_days(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    use Counter as C;
    let unit = "market-regulation";
    // Days around two month ends, taken back on some days.
    let changes: Vec<(NaiveDate, i64)> = vec![
        (day(2026, 9, 29), 3),
        (day(2026, 9, 30), 1),
        (day(2026, 10, 1), 5),
        (day(2026, 10, 15), 2),
        (day(2026, 10, 15), -1),
        (day(2026, 10, 27), 7),
        (day(2026, 10, 31), 4),
        (day(2026, 11, 1), 6),
        (day(2026, 11, 20), -2),
        (day(2026, 11, 21), 9),
    ];
    for (on, n) in &changes {
        create_counting(
            store,
            vec![
                delta(Some(unit), *on, C::Dispatched, *n),
                delta(None, *on, C::Received, *n),
            ],
        )
        .await;
    }
    let periods = [
        (day(2026, 10, 1), day(2026, 11, 1)),   // a whole month
        (day(2026, 10, 1), day(2026, 10, 28)),  // most of one
        (day(2026, 10, 5), day(2026, 11, 1)),   // most of one, from inside
        (day(2026, 9, 30), day(2026, 11, 21)),  // edges of three
        (day(2026, 10, 15), day(2026, 10, 16)), // one day
        (day(2026, 9, 1), day(2026, 12, 1)),    // three whole months
        (day(2026, 10, 3), day(2026, 10, 3)),   // empty
    ];
    for (from, to) in periods {
        let expected: i64 = changes
            .iter()
            .filter(|(on, _)| (from..to).contains(on))
            .map(|(_, n)| n)
            .sum();
        let window = CounterSource::Days { from, to };
        let centre = sums(store, CounterScope::Centre, window).await;
        assert_eq!(
            centre.get(&C::Received).copied().unwrap_or(0),
            expected,
            "centre {from}..{to}"
        );
        let of_unit = sums(store, CounterScope::Unit(unit_id(unit)), window).await;
        assert_eq!(
            of_unit.get(&C::Dispatched).copied().unwrap_or(0),
            expected,
            "unit {from}..{to}"
        );
        let ranked: i64 = store
            .sum_counters_by_unit(None, window)
            .await
            .expect("sum_counters_by_unit")
            .into_iter()
            .filter(|(u, c, _)| u.as_str() == unit && *c == C::Dispatched)
            .map(|(_, _, n)| n)
            .sum();
        assert_eq!(ranked, expected, "ranking {from}..{to}");
    }
}
