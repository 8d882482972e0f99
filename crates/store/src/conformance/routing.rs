//! The dispatch catalogue: draft rules, published rule-set versions, the
//! active version and rollback.

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{RuleSetInfo, Store};
use hotline_domain::routing::{RuleSpec, Territorial};

use super::fixtures::{full_rule, is_already_exists, is_not_found, micros, rule, t0};

/// The draft rules, as `draft_rules` returns them.
async fn drafts(store: &dyn Store) -> Vec<RuleSpec> {
    store.draft_rules().await.expect("draft_rules")
}

fn rule_ids(rules: &[RuleSpec]) -> Vec<&str> {
    rules.iter().map(|r| r.id.as_str()).collect()
}

/// Draft rules round-trip through JSON with every [`RuleSpec`] field; ids
/// are unique (`AlreadyExists`, the stored rule unchanged); updating or
/// deleting an unknown id is `NotFound` and creates nothing; `draft_rules`
/// orders by id in byte order (`-` before digits before letters).
pub async fn draft_rules_create_update_delete_and_list(store: Arc<dyn Store>) {
    let store = store.as_ref();
    assert_eq!(drafts(store).await, vec![], "no drafts in a new store");

    let full = full_rule("noise-night");
    // Work in progress: nothing but an id, which the store keeps as is.
    let bare = RuleSpec {
        name: String::new(),
        keywords_any: Vec::new(),
        target_unit: None,
        ..rule("bare", "unused")
    };
    let street = RuleSpec {
        target_unit: None,
        territorial: Some(Territorial::Street),
        priority: i32::MAX,
        ..rule("a1", "unused")
    };
    let created = [
        full.clone(),
        rule("a10", "market-regulation"),
        rule("a-1", "d330106"),
        street.clone(),
        rule("a2", "env-bureau"),
        bare.clone(),
    ];
    for (i, r) in created.iter().enumerate() {
        store
            .create_draft_rule(r, t0() + micros(i as i64))
            .await
            .expect("create_draft_rule");
    }
    let listed = drafts(store).await;
    assert_eq!(
        rule_ids(&listed),
        ["a-1", "a1", "a10", "a2", "bare", "noise-night"],
        "draft_rules orders by id, byte order"
    );
    let mut expected = created.to_vec();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed, expected, "every field of every rule round-trips");
    assert_eq!(listed[5], full, "the rule with every field set round-trips");
    assert_eq!(listed[4], bare, "a rule with only an id round-trips");
    assert_eq!(listed[1], street, "a territorial rule round-trips");

    // A taken id: AlreadyExists, nothing changed.
    let result = store
        .create_draft_rule(&rule("noise-night", "d330106"), t0() + micros(10))
        .await;
    assert!(
        is_already_exists(&result),
        "a duplicate draft rule id must be AlreadyExists, got {result:?}"
    );
    assert_eq!(drafts(store).await, expected, "unchanged by a duplicate");

    // Update replaces the whole rule, fields emptied included.
    let mut updated = full_rule("noise-night");
    updated.priority = 7;
    updated.keywords_all = Vec::new();
    updated.co_units = vec!["market-regulation".into()];
    updated.territorial = None;
    updated.name = "改名".into();
    store
        .update_draft_rule(&updated, t0() + micros(11))
        .await
        .expect("update_draft_rule");
    let listed = drafts(store).await;
    assert_eq!(listed.len(), 6);
    assert_eq!(listed[5], updated, "update replaces the rule");
    assert_eq!(&listed[..5], &expected[..5], "other rules untouched");
    expected[5] = updated.clone();

    // Update of an unknown id: NotFound, and it is not created.
    let result = store
        .update_draft_rule(&rule("ghost", "d330106"), t0() + micros(12))
        .await;
    assert!(
        is_not_found(&result),
        "updating an unknown draft rule must be NotFound, got {result:?}"
    );
    assert_eq!(drafts(store).await, expected, "update does not upsert");

    // Delete removes exactly one rule; deleting it again is NotFound.
    store.delete_draft_rule("a10").await.expect("delete");
    expected.retain(|r| r.id != "a10");
    assert_eq!(drafts(store).await, expected, "after delete");
    let result = store.delete_draft_rule("a10").await;
    assert!(
        is_not_found(&result),
        "deleting a deleted rule must be NotFound, got {result:?}"
    );
    let result = store.delete_draft_rule("never-was").await;
    assert!(
        is_not_found(&result),
        "deleting an unknown rule must be NotFound, got {result:?}"
    );
    assert_eq!(drafts(store).await, expected);

    // A deleted id can be used again.
    store
        .create_draft_rule(&rule("a10", "d330106"), t0() + micros(13))
        .await
        .expect("re-create a deleted id");
    assert_eq!(
        rule_ids(&drafts(store).await),
        ["a-1", "a1", "a10", "a2", "bare", "noise-night"]
    );
    for r in expected {
        store.delete_draft_rule(&r.id).await.expect("delete");
    }
    store.delete_draft_rule("a10").await.expect("delete");
    assert_eq!(drafts(store).await, vec![], "every draft deleted");
}

/// Three small catalogues with distinct rules.
fn catalogues() -> [Vec<RuleSpec>; 3] {
    [
        vec![
            full_rule("noise-night"),
            rule("market", "market-regulation"),
        ],
        vec![],
        vec![
            rule("zz-last", "d330106"),
            rule("aa-first", "env-bureau"),
            full_rule("noise-night"),
        ],
    ]
}

/// Publishes `rules` at `t0 + n seconds + n µs`.
async fn publish(store: &dyn Store, rules: &[RuleSpec], n: i64) -> RuleSetInfo {
    store
        .publish_rule_set(
            rules,
            &format!("admin-{n}"),
            &format!("第 {n} 版 \"note\"\nline 2"),
            t0() + TimeDelta::seconds(n) + micros(n),
        )
        .await
        .expect("publish_rule_set")
}

/// The info a publish must return: everything as given, active.
fn published_info(rules: &[RuleSpec], version: i64, n: i64) -> RuleSetInfo {
    RuleSetInfo {
        version,
        rule_count: rules.len() as i32,
        publisher: format!("admin-{n}"),
        note: format!("第 {n} 版 \"note\"\nline 2"),
        publish_time: t0() + TimeDelta::seconds(n) + micros(n),
        active: true,
    }
}

fn inactive(mut info: RuleSetInfo) -> RuleSetInfo {
    info.active = false;
    info
}

/// Before any publish there is no active version: `active_rule_set` and
/// `active_rule_set_version` are `None`, no version exists. Each publish
/// gets the next version (1, 2, 3), becomes active at once and returns its
/// info; `rule_set` returns each version's info (active or not) and exactly
/// its rules in their published order, an empty catalogue included.
pub async fn publish_assigns_versions_and_activates(store: Arc<dyn Store>) {
    let store = store.as_ref();
    assert_eq!(
        store
            .active_rule_set_version()
            .await
            .expect("active version"),
        None,
        "no active version before the first publish"
    );
    assert_eq!(
        store.active_rule_set().await.expect("active_rule_set"),
        None,
        "no active rule set before the first publish"
    );
    assert!(is_not_found(&store.rule_set(1).await));
    assert!(is_not_found(&store.rule_set(0).await));
    assert_eq!(store.list_rule_sets(None, 10).await.expect("list"), vec![]);

    let catalogues = catalogues();
    let mut infos = Vec::new();
    for (i, rules) in catalogues.iter().enumerate() {
        let n = i as i64 + 1;
        let info = publish(store, rules, n).await;
        assert_eq!(
            info,
            published_info(rules, n, n),
            "publish returns version {n}, active"
        );
        assert_eq!(
            store
                .active_rule_set_version()
                .await
                .expect("active version"),
            Some(n),
            "version {n} is active after its publish"
        );
        assert_eq!(
            store.active_rule_set().await.expect("active_rule_set"),
            Some((info.clone(), rules.clone())),
            "active_rule_set is version {n} with its rules"
        );
        infos.push(info);
    }
    for (i, rules) in catalogues.iter().enumerate() {
        let version = i as i64 + 1;
        let (info, got) = store.rule_set(version).await.expect("rule_set");
        let expected = if version == 3 {
            infos[i].clone()
        } else {
            inactive(infos[i].clone())
        };
        assert_eq!(info, expected, "rule_set({version}) info");
        assert_eq!(&got, rules, "rule_set({version}) has exactly its rules");
    }
    assert!(is_not_found(&store.rule_set(4).await));
    assert!(is_not_found(&store.rule_set(-1).await));
}

/// A published version is immutable: editing, adding or deleting draft
/// rules afterwards changes neither that version nor the active rule set;
/// only a new publish does.
pub async fn published_rule_sets_are_immutable(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut originals = vec![
        full_rule("noise-night"),
        rule("market", "market-regulation"),
    ];
    for r in &originals {
        store.create_draft_rule(r, t0()).await.expect("create");
    }
    let draft = drafts(store).await;
    originals.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(draft, originals);
    let v1 = publish(store, &draft, 1).await;
    assert_eq!(v1.version, 1);

    let mut edited = full_rule("noise-night");
    edited.keywords_any = vec!["改过".into()];
    edited.priority = 99;
    store
        .update_draft_rule(&edited, t0() + micros(1))
        .await
        .expect("update");
    store.delete_draft_rule("market").await.expect("delete");
    store
        .create_draft_rule(&rule("new-rule", "d330106"), t0() + micros(2))
        .await
        .expect("create");
    assert_ne!(drafts(store).await, originals, "the draft did change");

    let (info, rules) = store.rule_set(1).await.expect("rule_set");
    assert_eq!(info, v1, "version 1 info unchanged by draft edits");
    assert_eq!(rules, originals, "version 1 rules unchanged by draft edits");
    assert_eq!(
        store.active_rule_set().await.expect("active"),
        Some((v1.clone(), originals.clone())),
        "the active rule set is unchanged by draft edits"
    );

    // Publishing the edited draft makes a new version; version 1 stays.
    let draft = drafts(store).await;
    let v2 = publish(store, &draft, 2).await;
    assert_eq!(v2.version, 2);
    assert_eq!(
        store.rule_set(2).await.expect("rule_set").1,
        draft,
        "version 2 has the edited draft"
    );
    assert_eq!(
        store.rule_set(1).await.expect("rule_set"),
        (inactive(v1), originals),
        "version 1 unchanged by a later publish"
    );
}

/// `activate_rule_set` rolls back (or forward) to any published version,
/// returning its info as active; the active set and its rules follow. An
/// unknown version is `NotFound` and leaves the active version as it was,
/// also before anything was published. Publishing after a rollback still
/// takes the next unused version.
pub async fn activate_rule_set_rolls_back(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let result = store.activate_rule_set(1).await;
    assert!(
        is_not_found(&result),
        "activating before any publish must be NotFound, got {result:?}"
    );
    assert_eq!(
        store.active_rule_set_version().await.expect("active"),
        None,
        "a failed activation publishes nothing"
    );

    let catalogues = catalogues();
    let mut infos = Vec::new();
    for (i, rules) in catalogues.iter().enumerate() {
        infos.push(publish(store, rules, i as i64 + 1).await);
    }

    let info = store.activate_rule_set(1).await.expect("roll back to 1");
    assert_eq!(info, infos[0], "activate returns the version, active");
    assert_eq!(
        store.active_rule_set_version().await.expect("active"),
        Some(1)
    );
    assert_eq!(
        store.active_rule_set().await.expect("active"),
        Some((infos[0].clone(), catalogues[0].clone())),
        "after rollback the active set is version 1 with its rules"
    );
    assert_eq!(
        store.rule_set(3).await.expect("rule_set").0,
        inactive(infos[2].clone()),
        "version 3 is no longer active"
    );

    for unknown in [4, 0, -1, 1_000_000, i64::MAX] {
        let result = store.activate_rule_set(unknown).await;
        assert!(
            is_not_found(&result),
            "activating unknown version {unknown} must be NotFound, got {result:?}"
        );
        assert_eq!(
            store.active_rule_set_version().await.expect("active"),
            Some(1),
            "a failed activation of {unknown} leaves version 1 active"
        );
    }

    // Activating the active version again is harmless; so is moving forward.
    assert_eq!(store.activate_rule_set(1).await.expect("again"), infos[0]);
    assert_eq!(store.activate_rule_set(2).await.expect("to 2"), infos[1]);
    assert_eq!(
        store.active_rule_set().await.expect("active"),
        Some((infos[1].clone(), Vec::new())),
        "an empty catalogue can be active"
    );

    // A publish after the rollback takes version 4, not 3 again.
    let v4 = publish(store, &catalogues[2], 4).await;
    assert_eq!(v4, published_info(&catalogues[2], 4, 4));
    assert_eq!(
        store.active_rule_set_version().await.expect("active"),
        Some(4)
    );
    let actives: Vec<i64> = store
        .list_rule_sets(None, 10)
        .await
        .expect("list")
        .into_iter()
        .filter(|i| i.active)
        .map(|i| i.version)
        .collect();
    assert_eq!(actives, [4], "exactly one version is active");
}

/// `list_rule_sets` returns published versions newest first, with their
/// info and exactly one `active` flag (the active version, which need not
/// be the newest); `before` pages by version and `limit` caps the page.
pub async fn list_rule_sets_pages_newest_first(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let catalogues = catalogues();
    let mut infos = Vec::new();
    for n in 1..=7_i64 {
        let rules = &catalogues[(n as usize) % catalogues.len()];
        infos.push(publish(store, rules, n).await);
    }
    store.activate_rule_set(3).await.expect("activate 3");
    let expected: Vec<RuleSetInfo> = infos
        .iter()
        .rev()
        .map(|i| RuleSetInfo {
            active: i.version == 3,
            ..i.clone()
        })
        .collect();
    assert_eq!(
        store.list_rule_sets(None, 100).await.expect("list"),
        expected,
        "all versions newest first, only version 3 active"
    );
    assert_eq!(
        store.list_rule_sets(None, 2).await.expect("list"),
        expected[..2].to_vec(),
        "the limit keeps the newest"
    );
    assert_eq!(
        store.list_rule_sets(Some(5), 2).await.expect("list"),
        expected[3..5].to_vec(),
        "before 5: versions 4 and 3"
    );
    assert_eq!(
        store.list_rule_sets(Some(100), 100).await.expect("list"),
        expected,
        "before a future version: everything"
    );
    assert_eq!(
        store.list_rule_sets(Some(8), 100).await.expect("list"),
        expected
    );
    assert_eq!(
        store.list_rule_sets(Some(7), 100).await.expect("list"),
        expected[1..].to_vec(),
        "before is exclusive"
    );
    for before in [1, 0, -5] {
        assert_eq!(
            store.list_rule_sets(Some(before), 100).await.expect("list"),
            vec![],
            "nothing before {before}"
        );
    }
    assert_eq!(store.list_rule_sets(None, 0).await.expect("list"), vec![]);

    for size in [1_u32, 2, 3, 7, 8] {
        let mut walked: Vec<RuleSetInfo> = Vec::new();
        loop {
            let before = walked.last().map(|i| i.version);
            let page = store.list_rule_sets(before, size).await.expect("list page");
            assert!(page.len() <= size as usize, "page within limit");
            let short = page.len() < size as usize;
            walked.extend(page);
            assert!(walked.len() <= expected.len(), "paging repeats versions");
            if short {
                break;
            }
        }
        assert_eq!(walked, expected, "paging rule sets by {size}");
    }
}
