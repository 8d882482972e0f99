//! The directory: units and regions, and dispatching to an unknown unit.

use std::sync::Arc;

use crate::Store;
use hotline_domain::directory::{Region, Unit, UnitKind};

use super::fixtures::{
    agent, all_events, assert_stored, create_at, dispatch, find, full_intake, is_already_exists,
    is_not_found, key, micros, region, seed_units, step, t0, unit, utc,
};

/// Units round-trip; ids are unique (`AlreadyExists`); a parent must exist
/// (`NotFound`); lists order by id and filter by region prefix and kind, and
/// page with `after`.
pub async fn units_create_get_and_list(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut units = vec![
        unit("market-regulation", UnitKind::Department, "330100", None),
        unit("d330106", UnitKind::District, "330106", None),
        unit("s330106001", UnitKind::Street, "330106001", Some("d330106")),
        unit("s330106002", UnitKind::Street, "330106002", Some("d330106")),
        unit("d330102", UnitKind::District, "330102", None),
        unit(
            "water-company",
            UnitKind::Company,
            "330100",
            Some("market-regulation"),
        ),
        unit("bj-market", UnitKind::Department, "110000", None),
    ];
    units[0].create_time = utc(2026, 1, 1, 0, 0, 0, 1);
    units[1].display_name = "西湖区人民政府 \"West Lake\"".into();
    for u in &units {
        store.create_unit(u, None).await.expect("create_unit");
    }
    for u in &units {
        assert_eq!(
            &store.get_unit(&u.id).await.expect("get_unit"),
            u,
            "unit round-trips"
        );
    }

    let mut duplicate = unit("d330106", UnitKind::Company, "110000", None);
    duplicate.display_name = "other".into();
    let result = store.create_unit(&duplicate, None).await;
    assert!(
        is_already_exists(&result),
        "duplicate unit id must be AlreadyExists, got {result:?}"
    );
    assert_eq!(
        store.get_unit(&duplicate.id).await.expect("get_unit"),
        units[1],
        "unchanged"
    );

    let orphan = unit(
        "orphan-street",
        UnitKind::Street,
        "330106003",
        Some("no-such-parent"),
    );
    let result = store.create_unit(&orphan, None).await;
    assert!(
        is_not_found(&result),
        "unknown parent must be NotFound, got {result:?}"
    );
    assert!(
        is_not_found(&store.get_unit(&orphan.id).await),
        "the orphan is not stored"
    );

    let mut sorted = units.clone();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let select = |prefix: Option<&str>, kind: Option<UnitKind>| -> Vec<Unit> {
        sorted
            .iter()
            .filter(|u| prefix.is_none_or(|p| u.region_code.within(p)))
            .filter(|u| kind.is_none_or(|k| u.kind == k))
            .cloned()
            .collect()
    };
    let cases: [(Option<&str>, Option<UnitKind>, usize); 8] = [
        (None, None, 7),
        (Some("3301"), None, 6),
        (Some("330106"), None, 3),
        (Some("330106001"), None, 1),
        (Some("9"), None, 0),
        (None, Some(UnitKind::Street), 2),
        (Some("3301"), Some(UnitKind::Department), 1),
        (Some("11"), Some(UnitKind::District), 0),
    ];
    for (prefix, kind, count) in cases {
        let expected = select(prefix, kind);
        assert_eq!(expected.len(), count, "fixture for {prefix:?}/{kind:?}");
        let got = store
            .list_units(prefix, kind, None, 100)
            .await
            .expect("list_units");
        assert_eq!(got, expected, "list_units({prefix:?}, {kind:?})");
        for size in [1_u32, 2, 3] {
            let mut walked: Vec<Unit> = Vec::new();
            loop {
                let after = walked.last().map(|u| u.id.clone());
                let page = store
                    .list_units(prefix, kind, after.as_ref(), size)
                    .await
                    .expect("list_units page");
                assert!(page.len() <= size as usize);
                let short = page.len() < size as usize;
                walked.extend(page);
                assert!(walked.len() <= expected.len(), "unit paging repeats rows");
                if short {
                    break;
                }
            }
            assert_eq!(
                walked, expected,
                "paging units {prefix:?}/{kind:?} by {size}"
            );
        }
    }
}

/// Regions round-trip; codes are unique (`AlreadyExists`); a parent must
/// exist (`NotFound`); lists order by code, filter by prefix and page with
/// `after`.
pub async fn regions_create_get_and_list(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let r = |code: &str, name: &str, parent: Option<&str>| Region {
        code: region(code),
        display_name: name.into(),
        parent: parent.map(region),
    };
    let regions = vec![
        r("330000", "浙江省", None),
        r("330100", "杭州市", Some("330000")),
        r("330106", "西湖区", Some("330100")),
        r("330106001", "北山街道", Some("330106")),
        r("330106001001", "某社区", Some("330106001")),
        r("330102", "上城区", Some("330100")),
        r("110000", "北京市", None),
        r("110101", "东城区", Some("110000")),
    ];
    for region in &regions {
        store.create_region(region).await.expect("create_region");
    }
    for region in &regions {
        assert_eq!(
            &store.get_region(&region.code).await.expect("get_region"),
            region
        );
    }

    let result = store.create_region(&r("330106", "duplicate", None)).await;
    assert!(
        is_already_exists(&result),
        "duplicate region must be AlreadyExists, got {result:?}"
    );
    assert_eq!(
        store
            .get_region(&region("330106"))
            .await
            .expect("get_region"),
        regions[2]
    );

    let result = store
        .create_region(&r("440100", "广州市", Some("440000")))
        .await;
    assert!(
        is_not_found(&result),
        "unknown parent must be NotFound, got {result:?}"
    );
    assert!(is_not_found(&store.get_region(&region("440100")).await));

    let mut sorted = regions.clone();
    sorted.sort_by(|a, b| a.code.cmp(&b.code));
    for (prefix, count) in [
        (None, 8),
        (Some("33"), 6),
        (Some("3301"), 5),
        (Some("330106"), 3),
        (Some("11"), 2),
        (Some("4"), 0),
    ] {
        let expected: Vec<Region> = sorted
            .iter()
            .filter(|r| prefix.is_none_or(|p| r.code.within(p)))
            .cloned()
            .collect();
        assert_eq!(expected.len(), count, "fixture for {prefix:?}");
        assert_eq!(
            store
                .list_regions(prefix, None, 100)
                .await
                .expect("list_regions"),
            expected,
            "list_regions({prefix:?})"
        );
        for size in [1_u32, 3] {
            let mut walked: Vec<Region> = Vec::new();
            loop {
                let after = walked.last().map(|r| r.code.clone());
                let page = store
                    .list_regions(prefix, after.as_ref(), size)
                    .await
                    .expect("page");
                assert!(page.len() <= size as usize);
                let short = page.len() < size as usize;
                walked.extend(page);
                assert!(walked.len() <= expected.len(), "region paging repeats rows");
                if short {
                    break;
                }
            }
            assert_eq!(walked, expected, "paging regions {prefix:?} by {size}");
        }
    }
}

/// Dispatching to a unit that does not exist fails with `NotFound` (the
/// foreign key) and writes nothing: ticket, trail and key stay as they were.
pub async fn dispatch_to_unknown_unit_fails_and_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (ticket, created) = create_at(store, full_intake(), t0(), None).await;
    let bad = ticket
        .apply(dispatch("no-such-unit"), &agent(), t0() + micros(1))
        .expect("the domain does not know the directory");
    let result = store
        .apply_transition(
            1,
            &bad,
            Some(key("agent-0001", "dispatch-1", "DispatchTicket")),
        )
        .await;
    assert!(
        is_not_found(&result),
        "dispatch to an unknown unit must be NotFound, got {result:?}"
    );
    assert_stored(store, &ticket, "after a failed dispatch").await;
    assert_eq!(all_events(store, ticket.id).await, vec![created]);
    assert_eq!(find(store, "agent-0001", "dispatch-1").await, None);

    // The ticket is still at version 1 and can be dispatched properly.
    let good = step(
        store,
        &ticket,
        dispatch("d330106"),
        &agent(),
        t0() + micros(2),
    )
    .await;
    assert_stored(store, &good.ticket, "after the corrected dispatch").await;
}

/// `count_units` counts the units stored: zero in a new store, one more per
/// created unit, unchanged by a rejected duplicate or orphan.
pub async fn count_units_counts_the_directory(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let count = || async { store.count_units().await.expect("count_units") };
    assert_eq!(count().await, 0, "a new store has no units");
    seed_units(store).await;
    assert_eq!(count().await, 3);

    let duplicate = unit("d330106", UnitKind::District, "330106", None);
    assert!(is_already_exists(
        &store.create_unit(&duplicate, None).await
    ));
    let orphan = unit(
        "orphan-street",
        UnitKind::Street,
        "330106003",
        Some("no-such-parent"),
    );
    assert!(is_not_found(&store.create_unit(&orphan, None).await));
    assert_eq!(count().await, 3, "failed creates add no unit");

    // Regions are not units.
    store
        .create_region(&Region {
            code: region("330106"),
            display_name: "西湖区".into(),
            parent: None,
        })
        .await
        .expect("create_region");
    for i in 0..12 {
        let id = format!("company-{i:02}");
        store
            .create_unit(
                &unit(&id, UnitKind::Company, "330100", Some("market-regulation")),
                None,
            )
            .await
            .expect("create_unit");
    }
    assert_eq!(count().await, 15);
    assert_eq!(
        store
            .list_units(None, None, None, 1000)
            .await
            .expect("list_units")
            .len(),
        15,
        "count_units agrees with list_units"
    );
}
