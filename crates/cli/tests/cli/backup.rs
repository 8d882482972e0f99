//! `hotline backup`: an online SQLite copy that reads back identical, and
//! the pg_dump advice for PostgreSQL.

use hotline::store::{Store, TicketQuery};

use super::*;

/// Everything a restore must bring back: tickets, their audit trail, the
/// scorecard counters and the directory.
async fn contents(store: &dyn Store) -> impl PartialEq + std::fmt::Debug + use<> {
    let tickets = store.list_tickets(&TicketQuery::all(100)).await.unwrap();
    let ids: Vec<_> = tickets.iter().map(|t| t.id).collect();
    let events = store.events_of_tickets(&ids).await.unwrap();
    let counters = store.all_counters().await.unwrap();
    let units = store.count_units().await.unwrap();
    (tickets, events, counters, units)
}

#[test]
fn backup_copies_a_live_sqlite_database_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    succeeded(
        hotline(dir.path())
            .args(["demo", "seed", "--database-url", &url])
            .output()
            .unwrap(),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A store stays open while tickets are written and backed up, as a
    // running server would: the last commits are still in the write-ahead
    // log, not yet in hotline.db.
    let live = runtime
        .block_on(hotline::store::open_with_pii(&url, 2, false, pii()))
        .unwrap();
    runtime.block_on(report::seed_october(&url));
    let before = runtime.block_on(contents(live.as_ref()));
    let wal = std::fs::metadata(dir.path().join("hotline.db-wal")).unwrap();
    assert!(wal.len() > 0, "commits in the WAL");
    let out = succeeded(
        hotline(dir.path())
            .args(["backup", "copy.db", "--database-url", &url])
            .output()
            .unwrap(),
    );
    assert!(out.contains("to copy.db ("), "{out}");

    let copy = format!("sqlite://{}", dir.path().join("copy.db").display());
    let restored = runtime
        .block_on(hotline::store::open_with_pii(&copy, 1, false, pii()))
        .unwrap();
    let after = runtime.block_on(contents(restored.as_ref()));
    assert_eq!(before, after);
    let tickets = runtime
        .block_on(restored.list_tickets(&TicketQuery::all(100)))
        .unwrap();
    assert_eq!(tickets.len(), 3, "the seeded tickets");
    drop((live, restored));

    let size = std::fs::metadata(dir.path().join("copy.db")).unwrap().len();
    let again = hotline(dir.path())
        .args(["backup", "copy.db", "--database-url", &url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("copy.db exists"), "{err}");
    assert_eq!(
        std::fs::metadata(dir.path().join("copy.db")).unwrap().len(),
        size,
        "the earlier backup is untouched"
    );
}

#[test]
fn backup_of_postgres_names_the_pg_dump_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotline(dir.path())
        .args([
            "backup",
            "hotline.dump",
            "--database-url",
            "postgres://hotline:pw-not-shown@db.internal/hotline",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pg_dump --format=custom --host=db.internal --port=5432"),
        "{err}"
    );
    assert!(!err.contains("pw-not-shown"), "{err}");
    assert!(!dir.path().join("hotline.dump").exists());
}

/// The caller-data keys the seeded tickets are sealed with (this process's).
fn pii() -> hotline::store::PiiCodec {
    hotline::store::testing::test_pii_codec()
}
