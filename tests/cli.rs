//! The `hotline` binary's offline commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::process::Command;

use hotline::{
    auth::Verifier,
    config::Settings,
    domain::{Principal, Role},
};

fn hotline(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
    cmd.current_dir(dir)
        .env_remove("HOTLINE_CONFIG")
        .env_remove("HOTLINE_AUTH__HS256_SECRET");
    cmd
}

#[test]
fn print_default_config_is_the_commented_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotline(dir.path())
        .args(["config", "print-default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[database]") && text.contains("# "), "{text}");
    let path = dir.path().join("hotline.toml");
    std::fs::write(&path, &text).unwrap();
    Settings::load_from(Some(&path), []).unwrap();
}

#[test]
fn token_is_signed_with_a_secret_created_on_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotline(dir.path())
        .args([
            "token",
            "--role",
            "unit_handler",
            "--sub",
            "bob",
            "--unit-id",
            "market-regulation",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let secret_file = dir.path().join("hotline-jwt.secret");
    assert!(secret_file.exists(), "secret created on first run");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "secret is private to its owner");
    }
    let mut settings = Settings::default();
    settings.auth.hs256_secret_file = secret_file.display().to_string();
    let principal = Verifier::from_settings(&settings.auth)
        .unwrap()
        .verify(token.trim())
        .unwrap();
    assert_eq!(
        principal,
        Principal {
            subject: "bob".into(),
            roles: vec![Role::UnitHandler],
            unit: Some(hotline::domain::UnitId::parse("market-regulation").unwrap()),
            region: None,
        }
    );

    let again = hotline(dir.path())
        .args(["token", "--role", "agent", "--sub", "alice"])
        .output()
        .unwrap();
    assert!(again.status.success());
    let verifier = Verifier::from_settings(&settings.auth).unwrap();
    assert!(
        verifier
            .verify(String::from_utf8(again.stdout).unwrap().trim())
            .is_ok(),
        "same secret reused"
    );

    let bad = hotline(dir.path())
        .args(["token", "--role", "root", "--sub", "x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("hotline.db").display())
}

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

#[test]
fn rules_import_publishes_valid_files_and_refuses_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let seeded = hotline(dir.path())
        .args(["demo", "seed", "--database-url", &url])
        .output()
        .unwrap();
    assert!(seeded.status.success());
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[rule]]\nid = \"late-night-noise\"\npriority = 50\nkeywords_all = [\"深夜\", \"噪音\"]\n\
         target_unit = \"urban-management\"\n",
    )
    .unwrap();
    let out = hotline(dir.path())
        .args([
            "rules",
            "import",
            good.to_str().unwrap(),
            "--publish",
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
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("1 added") && text.contains("published ruleSets/2"),
        "{text}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nid = \"ghost\"\nkeywords_any = [\"幽灵\"]\ntarget_unit = \"no-such-unit\"\n",
    )
    .unwrap();
    let out = hotline(dir.path())
        .args([
            "rules",
            "import",
            bad.to_str().unwrap(),
            "--publish",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("rules/ghost.target_unit"), "{err}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = hotline::store::open(&url, 1, true).await.unwrap();
        let version = store.active_rule_set_version().await.unwrap();
        assert_eq!(version, Some(2), "a bad publish leaves the active version");
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

#[test]
fn bench_intake_on_sqlite_reports_throughput_and_the_raw_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let messages = format!(
        "{}/../shared/data/messages-train.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = hotline(dir.path())
        .env("TMPDIR", dir.path())
        .args([
            "bench",
            "intake",
            "--backend",
            "sqlite",
            "--seconds",
            "2",
            "--warmup",
            "0.5",
            "--concurrency",
            "4",
            "--messages",
            &messages,
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let create = &report["hotline"]["CreateTicket"];
    assert!(create["throughput"].as_f64().unwrap() > 0.0, "{report}");
    assert_eq!(create["errors"], 0, "{report}");
    assert_eq!(report["raw"]["errors"], 0, "{report}");
    assert!(
        report["raw"]["throughput"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(report["ratio"].as_f64().unwrap() > 0.0, "{report}");
    assert!(create["p99_ms"].as_f64().unwrap() >= create["p50_ms"].as_f64().unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("hotline-bench-")
        })
        .collect();
    assert!(leftovers.is_empty(), "the temp SQLite file is removed");
}
