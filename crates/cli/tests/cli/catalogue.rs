//! Loading the directory, the dispatch catalogue and the calendar from files.

use super::*;

#[test]
fn demo_seed_loads_the_city_and_publishes_its_catalogue_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let units = hotline::demo::load().unwrap().units.len();
    for run in 0..2 {
        let out = hotline(dir.path())
            .args(["demo", "seed", "--database-url", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let added = if run == 0 { units } else { 0 };
        assert!(text.contains(&format!(" {added} units added")), "{text}");
        assert!(text.contains(&format!("ruleSets/{}", run + 1)), "{text}");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = hotline::store::open(&url, 1, true).await.unwrap();
        assert_eq!(store.count_units().await.unwrap(), units as i64);
        let (info, rules) = store.active_rule_set().await.unwrap().unwrap();
        assert_eq!(info.version, 2);
        assert_eq!(rules.len(), hotline::demo::load().unwrap().rules.len());
    });
}

/// Writes `contents` to `name` in `dir` and runs `hotline rules import` on it
/// with `flags`.
fn import_rules(
    dir: &std::path::Path,
    url: &str,
    name: &str,
    contents: &str,
    flags: &[&str],
) -> std::process::Output {
    let file = dir.join(name);
    std::fs::write(&file, contents).unwrap();
    hotline(dir)
        .args(["rules", "import", file.to_str().unwrap()])
        .args(flags)
        .args(["--publish", "--database-url", url])
        .output()
        .unwrap()
}

#[test]
fn rules_import_publishes_valid_files_and_refuses_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let seeded = hotline(dir.path())
        .args(["demo", "seed", "--database-url", &url])
        .output()
        .unwrap();
    assert!(seeded.status.success());
    let text = succeeded(import_rules(
        dir.path(),
        &url,
        "good.toml",
        "[[rule]]\nid = \"late-night-noise\"\npriority = 50\nkeywords_all = [\"深夜\", \"噪音\"]\n\
         target_unit = \"urban-management\"\n",
        &[],
    ));
    assert!(
        text.contains("1 added") && text.contains("published ruleSets/2"),
        "{text}"
    );

    let out = import_rules(
        dir.path(),
        &url,
        "bad.toml",
        "[[rule]]\nid = \"ghost\"\nkeywords_any = [\"幽灵\"]\ntarget_unit = \"no-such-unit\"\n",
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("rules/ghost.target_unit"), "{err}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = hotline::store::open(&url, 1, true).await.unwrap();
        let version = store.active_rule_set_version().await.unwrap();
        assert_eq!(version, Some(2), "a bad publish leaves the active version");
    });

    // The same catalogue as a spreadsheet export.
    let text = succeeded(import_rules(
        dir.path(),
        &url,
        "catalogue.csv",
        "id,priority,keywords_all,request_types,target_unit\n\
         late-night-noise,60,深夜|噪音,complaint|report,urban-management\n",
        &["--replace"],
    ));
    assert!(
        text.contains("1 replaced")
            && text.contains("removed")
            && text.contains("published ruleSets/3"),
        "{text}"
    );
    runtime.block_on(async {
        let store = hotline::store::open(&url, 1, true).await.unwrap();
        let (_, rules) = store.active_rule_set().await.unwrap().unwrap();
        let rule = rules.iter().find(|r| r.id == "late-night-noise").unwrap();
        assert_eq!(
            (
                rule.priority,
                rule.keywords_all.len(),
                rule.request_types.len()
            ),
            (60, 2, 2)
        );
        assert_eq!(rules.len(), 1, "--replace leaves the file's rules only");
    });
}

#[test]
fn calendar_import_stores_a_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let file = dir.path().join("2027.toml");
    std::fs::write(
        &file,
        "[[year]]\nyear = 2027\ndays_off = [[\"2027-01-01\", \"2027-01-03\"]]\n",
    )
    .unwrap();
    let out = hotline(dir.path())
        .args([
            "calendar",
            "import",
            file.to_str().unwrap(),
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("calendar version 2")
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = hotline::store::open(&url, 1, true).await.unwrap();
        let latest = store.latest_calendar().await.unwrap().unwrap();
        assert_eq!(latest.version, 2);
        assert!(latest.data.is_loaded(2027) && latest.data.is_loaded(2026));
    });
    std::fs::write(
        &file,
        "[[year]]\nyear = 2028\ndays_off = [[\"2028-02-10\", \"2028-02-01\"]]\n",
    )
    .unwrap();
    let out = hotline(dir.path())
        .args([
            "calendar",
            "import",
            file.to_str().unwrap(),
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a reversed range is refused");
}
