//! `hotline bench`: the load generator and populate on SQLite, populate/scale on PostgreSQL.

use super::*;

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

/// `bench populate` of `tickets` over the last 40 days into the SQLite
/// file `url`, with `extra` options; returns its stderr once it succeeded.
fn populate_sqlite(dir: &std::path::Path, url: &str, tickets: &str, extra: &[&str]) -> String {
    let out = hotline(dir)
        .args(["bench", "populate", "--tickets", tickets, "--from"])
        .arg(
            (hotline::domain::Clock::now(&hotline::domain::SystemClock)
                - chrono::Duration::days(40))
            .format("%Y-%m-%d")
            .to_string(),
        )
        .args(["--database-url", url])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// `hotline bench read` on the SQLite file `url`, to be given its options.
fn read_command(dir: &std::path::Path, url: &str) -> std::process::Command {
    let mut command = hotline(dir);
    command.args([
        "bench",
        "read",
        "--backend",
        "sqlite",
        "--database-url",
        url,
    ]);
    command
}

/// `bench read` on the SQLite file `url` for 3 s with 4 workers and the
/// options `extra`; returns the JSON report once it succeeded.
fn read_sqlite(dir: &std::path::Path, url: &str, extra: &[&str]) -> serde_json::Value {
    let json = dir.join("read.json");
    let out = read_command(dir, url)
        .args(["--seconds", "3", "--warmup", "0.2", "--concurrency", "4"])
        .args(extra)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// `bench populate` fills a SQLite file too, and `bench read` runs its
/// console mix on it with filters drawn from the loaded history: every
/// operation of the mix is timed, none fails.
#[test]
fn bench_read_mix_runs_on_a_populated_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scale.db").display());
    let stderr = populate_sqlite(dir.path(), &url, "2000", &[]);
    assert!(stderr.contains("populate: 2000 tickets, "), "{stderr}");

    let report = read_sqlite(dir.path(), &url, &[]);
    for op in [
        "GetTicket",
        "ListTickets.district",
        "ListTickets.street",
        "ListTickets.unit_inbox",
        "ListTickets.district_open",
        "ListOverdue",
        "ListSupervisionOrders",
        "ListTriageQueue",
        "LookupCaller",
        "ListTicketEvents",
        "ListDuplicateCandidates.ticket",
        "ListDuplicateCandidates.draft",
    ] {
        let summary = &report["hotline"][op];
        assert!(summary["ok"].as_u64().unwrap_or(0) > 0, "{op}: {report}");
        assert_eq!(summary["errors"], 0, "{op}: {report}");
    }
    assert!(dir.path().join("scale.db").exists(), "a named file is kept");
}

/// `populate --without-events` writes the tickets without their trails,
/// and `read --only` times the operations named and no other; a name the
/// mix does not have is refused with the names it has.
#[test]
fn bench_read_only_times_the_operations_named_on_a_history_without_events() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("scale.db").display());
    let stderr = populate_sqlite(dir.path(), &url, "1500", &["--without-events"]);
    assert!(
        stderr.contains("populate: 1500 tickets, 0 events, "),
        "{stderr}"
    );

    let only = "ListDuplicateCandidates.ticket,ListDuplicateCandidates.draft";
    let report = read_sqlite(dir.path(), &url, &["--only", only]);
    let timed: Vec<&String> = report["hotline"].as_object().unwrap().keys().collect();
    assert_eq!(
        timed,
        [
            "ListDuplicateCandidates.draft",
            "ListDuplicateCandidates.ticket"
        ],
        "{report}"
    );
    for op in only.split(',') {
        let summary = &report["hotline"][op];
        assert!(summary["ok"].as_u64().unwrap_or(0) > 0, "{op}: {report}");
        assert_eq!(summary["errors"], 0, "{op}: {report}");
    }

    let out = read_command(dir.path(), &url)
        .args(["--seconds", "1", "--only", "ListEverything"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("ListEverything") && stderr.contains("ListOverdue"),
        "{stderr}"
    );
}

/// `bench populate` on PostgreSQL (COPY), with the history's invariants
/// checked: this test runs in the PostgreSQL leg of CI (`TEST_DATABASE_URL`),
/// in a database of its own that it drops afterwards.
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
    // Every ticket carries its text sketch (duplicate search reads it).
    let (sketched,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM tickets WHERE octet_length(text_sketch) = 256")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(sketched, 3000, "populate writes each ticket's sketch");
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

    // The month totals the load wrote are the sums of its days.
    const BY_MONTH_FROM_DAYS: &str = "SELECT substr(day, 1, 7), unit_id, counter, \
        CAST(SUM(value) AS BIGINT) FROM unit_day_counters GROUP BY 1, 2, 3 \
        HAVING SUM(value) <> 0 ORDER BY 1, 2, 3";
    const BY_MONTH: &str = "SELECT month, unit_id, counter, CAST(SUM(value) AS BIGINT) \
        FROM unit_month_counters GROUP BY 1, 2, 3 HAVING SUM(value) <> 0 ORDER BY 1, 2, 3";
    let from_days: Vec<(String, String, String, i64)> = sqlx::query_as(BY_MONTH_FROM_DAYS)
        .fetch_all(&pool)
        .await
        .unwrap();
    let months: Vec<(String, String, String, i64)> =
        sqlx::query_as(BY_MONTH).fetch_all(&pool).await.unwrap();
    assert!(!months.is_empty());
    assert_eq!(months, from_days, "month totals are the sums of their days");

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
    assert_eq!(results.len(), 8, "{report}");
    for r in results {
        for side in ["store", "naive"] {
            assert!(r[side]["median_ms"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
    let sweep = &results[5];
    assert_eq!(sweep["store"]["rows"], sweep["naive"]["rows"], "{sweep}");
    let paging = &results[7];
    assert_eq!(paging["store"]["rows"], 50);
    assert_eq!(paging["naive"]["rows"], 50);

    pool.close().await;
    drop(store);
}

/// Drops a test database when the test ends, passed or failed (on a thread
/// of its own: `Drop` cannot await inside the test's runtime).
pub(crate) struct DropDatabase {
    pub(crate) admin_url: String,
    pub(crate) name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = hotline::store::testing::execute_blocking(&self.admin_url, &sql) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}
