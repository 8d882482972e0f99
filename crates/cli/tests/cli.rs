//! The `hotline` binary's offline commands.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::process::Command;

use hotline::{
    auth::Verifier,
    config::Settings,
    domain::{Principal, Role},
};

/// The binary in `dir`, without the caller's `HOTLINE_…` variables: every
/// one of them is a setting (or `HOTLINE_CONFIG`) and would change the run.
fn hotline(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
    cmd.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HOTLINE_") {
            cmd.env_remove(name);
        }
    }
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

/// The command: `HOTLINE_CONFIG` selects the file and is no setting.
#[test]
fn hotline_config_selects_the_file_and_is_not_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/hotline.example.toml"
    );
    let out = hotline(dir.path())
        .env("HOTLINE_CONFIG", example)
        .args(["token", "--role", "agent", "--sub", "x"])
        .output()
        .unwrap();
    let token = succeeded(out);
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");

    let missing = hotline(dir.path())
        .env("HOTLINE_CONFIG", dir.path().join("missing.toml"))
        .args(["token", "--role", "agent", "--sub", "x"])
        .output()
        .unwrap();
    assert!(!missing.status.success(), "a named file must exist");
}

#[test]
fn unknown_settings_fail_naming_the_variable_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotline(dir.path())
        .env("HOTLINE_DATABASE__URLL", "sqlite://x.db")
        .args(["token", "--role", "agent", "--sub", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(
            "unknown setting `database.urll` (from environment variable HOTLINE_DATABASE__URLL)"
        ),
        "{err}"
    );

    std::fs::write(dir.path().join("x.toml"), "[database]\nurll = \"x\"\n").unwrap();
    let out = hotline(dir.path())
        .args([
            "--config", "x.toml", "token", "--role", "agent", "--sub", "x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unknown setting `database.urll` (from file x.toml, line 2)"),
        "{err}"
    );
}

/// defaults < file < `HOTLINE_…` < flag, seen through `migrate`, which
/// prints the database it used.
#[test]
fn the_flag_beats_the_variable_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    std::fs::write(
        dir.path().join("hotline.toml"),
        format!("[database]\nurl = \"{}\"\n", url("file.db")),
    )
    .unwrap();
    let migrate = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = hotline(dir.path());
        cmd.args(["--config", "hotline.toml", "migrate"]);
        if let Some(env) = env {
            cmd.env("HOTLINE_DATABASE__URL", env);
        }
        if let Some(flag) = flag {
            cmd.args(["--database-url", flag]);
        }
        succeeded(cmd.output().unwrap())
    };
    assert!(migrate(None, None).contains("file.db"));
    assert!(migrate(Some(&url("env.db")), None).contains("env.db"));
    assert!(migrate(Some(&url("env.db")), Some(&url("flag.db"))).contains("flag.db"));
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

/// Stdout of a run that must have succeeded.
fn succeeded(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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

/// A caller whose name and phone must never reach a report.
const CALLER_NAME: &str = "王小明";
const CALLER_PHONE: &str = "13912345678";
const ADDRESS: &str = "幸福路 8 号";
const TITLE: &str = "夜间施工噪音扰民";

/// Three complaints from one caller in October 2026 (Beijing), stored with
/// their counters as the API would: one answered at intake, one replied by
/// market regulation and rated satisfied, one waiting for dispatch.
async fn seed_october(url: &str) {
    use chrono::{FixedOffset, TimeDelta, TimeZone, Utc};
    use hotline::{
        domain::{
            Action, Caller, RegionCode, SubjectCode, Ticket, UnitId,
            metrics::deltas,
            ticket::{Channel, Intake, RequestType, Satisfaction, Urgency},
        },
        store::NewTicket,
    };
    let store = hotline::store::open(url, 1, true).await.unwrap();
    let offset = FixedOffset::east_opt(8 * 3600).unwrap();
    let agent = Principal {
        subject: "agent-1".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    };
    let market = UnitId::parse("market-regulation").unwrap();
    let handler = Principal {
        subject: "handler-1".into(),
        roles: vec![Role::UnitHandler],
        unit: Some(market.clone()),
        region: None,
    };
    let start = Utc.with_ymd_and_hms(2026, 10, 12, 2, 0, 0).unwrap();
    for i in 0..3 {
        let now = start + TimeDelta::hours(i);
        let intake = Intake {
            channel: Channel::Phone,
            legacy_hotline: None,
            caller: Caller::parse(CALLER_NAME, CALLER_PHONE, false).unwrap(),
            confidential: false,
            request_type: RequestType::Complaint,
            urgency: Urgency::Normal,
            subject_code: Some(SubjectCode::parse("01.02").unwrap()),
            region_code: RegionCode::parse("430102001").unwrap(),
            address: ADDRESS.into(),
            title: TITLE.into(),
            description: format!("{CALLER_NAME} 反映：{TITLE}，电话 {CALLER_PHONE}"),
        };
        let created = Ticket::accept(intake, String::new(), &agent, now);
        let counters = deltas(None, &created, offset);
        let mut ticket = store
            .create_ticket(
                NewTicket {
                    created,
                    followups: Vec::new(),
                    counters,
                    local_day: (now + TimeDelta::hours(8)).date_naive(),
                },
                None,
            )
            .await
            .unwrap();
        let steps: Vec<(Action, &Principal)> = match i {
            0 => vec![(
                Action::ResolveAtIntake {
                    answer: "已告知".into(),
                },
                &agent,
            )],
            1 => vec![
                (Action::dispatch(market.clone(), ""), &agent),
                (Action::Sign, &handler),
                (
                    Action::Reply {
                        text: "已责令整改".into(),
                        contacted_citizen: true,
                        after: Default::default(),
                    },
                    &handler,
                ),
                (
                    Action::RecordCallback {
                        satisfaction: Satisfaction::Satisfied,
                        resolved: true,
                        comment: String::new(),
                    },
                    &agent,
                ),
            ],
            _ => vec![],
        };
        for (n, (action, actor)) in steps.into_iter().enumerate() {
            let at = now + TimeDelta::minutes(10 * (n as i64 + 1));
            let transition = ticket.apply(action, actor, at).unwrap();
            let counters = deltas(Some(&ticket), &transition, offset);
            store
                .apply_transitions(
                    ticket.version,
                    std::slice::from_ref(&transition),
                    &counters,
                    None,
                )
                .await
                .unwrap();
            ticket = transition.ticket;
        }
    }
}

#[test]
fn report_monthly_writes_all_formats_with_charts_and_no_caller_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let seeded = hotline(dir.path())
        .args(["demo", "seed", "--database-url", &url])
        .output()
        .unwrap();
    assert!(seeded.status.success());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(seed_october(&url));

    let out = hotline(dir.path())
        .args([
            "report",
            "monthly",
            "--month",
            "2026-10",
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
    let report = dir.path().join("report-2026-10");
    let read = |name: &str| std::fs::read_to_string(report.join(name)).unwrap();
    let md = read("report-2026-10.md");
    let csv = read("report-2026-10.csv");
    let html = read("report-2026-10.html");
    assert!(
        md.lines()
            .any(|l| l == "| 投诉 | 3 | 3 | 1 | 1 | 66.7% (2/3) |"),
        "{md}"
    );
    assert!(md.contains("| 01 城乡建设 | 3 | 100.0% |"), "{md}");
    assert!(md.contains("| A1区 (430102) | 3 | 100.0% |"), "{md}");
    assert!(md.contains("| 满意率 | 100.0% | 1 | 1 |"), "{md}");
    assert!(
        csv.contains("request_type,complaint,投诉,reply_rate,2,3,66.7\r\n"),
        "{csv}"
    );
    assert!(html.contains("<svg") && html.contains("</html>"));
    assert!(report.join("charts/by-type.svg").exists());
    for (name, text) in [("md", &md), ("csv", &csv), ("html", &html)] {
        for secret in [
            CALLER_NAME,
            CALLER_PHONE,
            "1234567",
            ADDRESS,
            TITLE,
            "幸福路",
        ] {
            assert!(
                !text.contains(secret),
                "{secret:?} leaked into the {name} report"
            );
        }
    }
    for chart in std::fs::read_dir(report.join("charts")).unwrap() {
        let svg = std::fs::read_to_string(chart.unwrap().path()).unwrap();
        assert!(!svg.contains(CALLER_NAME) && !svg.contains(CALLER_PHONE));
    }

    let single = dir.path().join("annual.html");
    let out = hotline(dir.path())
        .args([
            "report",
            "annual",
            "--year",
            "2026",
            "--format",
            "html",
            "--out",
            single.to_str().unwrap(),
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
    let annual = std::fs::read_to_string(&single).unwrap();
    assert!(annual.contains("2026 年度") && annual.contains("每月来件量"));

    let bad = hotline(dir.path())
        .args([
            "report",
            "monthly",
            "--month",
            "2026-13",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success(), "an invalid month is refused");
}

#[test]
fn bench_intake_on_sqlite_reports_throughput_and_the_raw_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
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

/// `bench populate` loads with COPY, so it is PostgreSQL only: this test
/// runs in the PostgreSQL leg of CI (`TEST_DATABASE_URL`), in a database of
/// its own that it drops afterwards.
#[tokio::test]
#[ignore = "PostgreSQL only (COPY); CI's PostgreSQL leg runs it"]
async fn bench_populate_writes_lawful_histories_and_scale_times_them() {
    use std::collections::BTreeMap;

    use hotline::{
        domain::{Clock, SystemClock, TicketId},
        store::testing::{TestBackend, stored_and_replayed_counters},
    };

    let base = TestBackend::postgres_url();
    let name = format!("hotline_populate_{}", uuid::Uuid::now_v7().simple());
    let (server, _) = base.rsplit_once('/').unwrap();
    let url = format!("{server}/{name}");
    let _drop = DropDatabase {
        admin_url: base.clone(),
        name: name.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let populate = |tickets: &str| {
        hotline(dir.path())
            .args([
                "bench",
                "populate",
                "--tickets",
                tickets,
                "--from",
                "2026-01-01",
            ])
            .args(["--database-url", &url])
            .output()
            .unwrap()
    };
    let out = populate("3000");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("populate: 3000 tickets, "), "{stderr}");
    assert!(
        !populate("10").status.success(),
        "a database that holds tickets is refused"
    );

    let now = SystemClock.now();
    let store = hotline::store::open(&url, 2, false).await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let rows: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT id, version, number FROM tickets ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 3000);
    let numbers: std::collections::HashSet<_> = rows.iter().map(|r| &r.2).collect();
    assert_eq!(numbers.len(), 3000, "ticket numbers are unique");
    let ids: Vec<TicketId> = rows
        .iter()
        .map(|r| TicketId::parse(&r.0).unwrap())
        .collect();
    let events = store.events_of_tickets(&ids).await.unwrap();
    let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let mut trails: BTreeMap<TicketId, Vec<_>> = BTreeMap::new();
    for e in events {
        trails.entry(e.ticket_id).or_default().push(e);
    }
    for (id, version, _) in &rows {
        let trail = &trails[&TicketId::parse(id).unwrap()];
        let sequences: Vec<i64> = trail.iter().map(|e| e.sequence).collect();
        assert_eq!(
            sequences,
            (1..=*version).collect::<Vec<_>>(),
            "trail of {id}"
        );
        assert!(
            trail.windows(2).all(|w| w[0].time <= w[1].time),
            "events of {id} in time order"
        );
        assert!(trail.iter().all(|e| e.time <= now), "{id} in the past");
    }
    let events = trails.into_values().flatten().collect();
    let (stored, recomputed) = stored_and_replayed_counters(store.as_ref(), events, offset)
        .await
        .unwrap();
    assert_eq!(
        stored, recomputed,
        "counters equal a replay of the event log"
    );

    // About 1 % left due for the sweeper, all still with their unit.
    let due: Vec<(String,)> = sqlx::query_as(
        "SELECT state FROM tickets WHERE next_alert_us <= \
         (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        (10..=60).contains(&due.len()),
        "{} of 3000 due now",
        due.len()
    );
    assert!(
        due.iter()
            .all(|(s,)| s == "dispatched" || s == "in_progress"),
        "{due:?}"
    );

    let json = dir.path().join("scale.json");
    let out = hotline(dir.path())
        .args([
            "bench",
            "scale",
            "--page",
            "5",
            "--repeat",
            "1",
            "--database-url",
            &url,
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    succeeded(out);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["tickets"], 3000);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 7, "{report}");
    for r in results {
        for side in ["store", "naive"] {
            assert!(r[side]["median_ms"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
    let sweep = &results[4];
    assert_eq!(sweep["store"]["rows"], sweep["naive"]["rows"], "{sweep}");
    let paging = &results[6];
    assert_eq!(paging["store"]["rows"], 50);
    assert_eq!(paging["naive"]["rows"], 50);

    pool.close().await;
    drop(store);
}

/// Drops a test database when the test ends, passed or failed (on a thread
/// of its own: `Drop` cannot await inside the test's runtime).
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = hotline::store::testing::execute_blocking(&self.admin_url, &sql) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}
