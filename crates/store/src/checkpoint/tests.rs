use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::Connection;

use super::*;
use crate::sqlite::{SqliteStore, connect_with};

const LIMIT: i64 = 1000;

fn outcome(log: i64, checkpointed: i64) -> Outcome {
    Outcome {
        busy: 0,
        log,
        checkpointed,
    }
}

#[test]
fn a_growing_wal_under_the_limit_waits() {
    assert_eq!(next_step(outcome(300, 120), 100, LIMIT), Step::Wait);
    assert_eq!(next_step(outcome(0, 0), 0, LIMIT), Step::Wait);
}

#[test]
fn a_wal_past_the_limit_is_restarted_while_writes_go_on() {
    assert_eq!(next_step(outcome(1200, 900), 800, LIMIT), Step::Restart);
    // Fully copied but still growing (a writer did not rewind it).
    assert_eq!(next_step(outcome(1300, 1300), 1200, LIMIT), Step::Restart);
}

#[test]
fn an_idle_copied_wal_is_truncated() {
    assert_eq!(next_step(outcome(400, 400), 400, LIMIT), Step::Truncate);
    // After a RESTART no write followed: emptied rather than restarted again.
    assert_eq!(next_step(outcome(1500, 1500), 1500, LIMIT), Step::Truncate);
    // Unchanged but not copied (a reader held it back): not idle yet.
    assert_eq!(next_step(outcome(400, 300), 400, LIMIT), Step::Wait);
}

/// Writes 8 KiB rows from four tasks until `total` bytes are written (or
/// 30 s passed) while a reader keeps opening snapshots; returns the largest
/// WAL file seen (bytes) and the bytes written.
async fn sustained_writes(store: &SqliteStore, wal: &std::path::Path, total: u64) -> (u64, u64) {
    sqlx::query("CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        .execute(store.write_pool())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let pool = store.write_pool().clone();
        let stop = stop.clone();
        let progress = progress.clone();
        writers.push(tokio::spawn(async move {
            let mut written = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // The one write connection may be held longer than the
                // pool's 5 s by a RESTART on a machine whose disk is busy
                // with other work; waiting again is what a writer does.
                let mut conn = match pool.acquire().await {
                    Ok(conn) => conn,
                    Err(sqlx::Error::PoolTimedOut) => continue,
                    Err(e) => panic!("acquiring the write connection: {e}"),
                };
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.unwrap();
                for _ in 0..4 {
                    sqlx::query("INSERT INTO filler (body) VALUES (randomblob(8192))")
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                }
                tx.commit().await.unwrap();
                written += 4 * 8192;
                progress.fetch_add(4 * 8192, Ordering::Relaxed);
            }
            written
        }));
    }
    let reader = {
        let pool = store.pool().clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM filler")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            }
        })
    };
    let mut largest = 0;
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && progress.load(Ordering::Relaxed) < total {
        largest = largest.max(std::fs::metadata(wal).map_or(0, |m| m.len()));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut written = 0;
    for w in writers {
        written += w.await.unwrap();
    }
    reader.await.unwrap();
    (largest, written)
}

/// The WAL stays within a few times its limit however much is written,
/// and without the checkpointer (the control) the same load takes it far
/// past that bound, so the bound is the checkpointer's doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_sustained_writes() {
    let limit_pages = 64;
    let page = 4096;
    // A tick's growth and the catch-up come on top of the limit.
    let bound = 16 * limit_pages as u64 * page;
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for (name, tick) in [
        ("on", Duration::from_millis(20)),
        ("off", Duration::from_secs(3600)),
    ] {
        let file = dir.path().join(format!("{name}.db"));
        let url = format!("sqlite://{}", file.display());
        let config = Checkpoints {
            tick,
            wal_limit_pages: limit_pages,
            reader_wait: Duration::from_millis(50),
        };
        let store = connect_with(&url, 4, true, config).await.unwrap();
        let wal = dir.path().join(format!("{name}.db-wal"));
        results.push(sustained_writes(&store, &wal, 6 * bound).await);
    }
    eprintln!("(largest WAL, bytes written) with and without the checkpointer: {results:?}");
    let [(on_wal, on_written), (off_wal, off_written)] = results[..] else {
        unreachable!()
    };
    assert!(
        on_written >= 6 * bound,
        "too little written to judge: {on_written} bytes"
    );
    assert!(
        on_wal <= bound,
        "WAL reached {on_wal} bytes with the checkpointer (bound {bound}) after {on_written} bytes written"
    );
    assert!(
        off_wal > bound,
        "without checkpoints the WAL stayed at {off_wal} bytes after {off_written} bytes written"
    );
}

/// Committed writes survive the checkpointer's rewinds: every row written
/// while it restarted and truncated the WAL is read back from a new
/// connection after the store is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_across_checkpoints_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kept.db");
    let url = format!("sqlite://{}", file.display());
    let config = Checkpoints {
        tick: Duration::from_millis(10),
        wal_limit_pages: 64,
        reader_wait: Duration::from_millis(50),
    };
    let store = connect_with(&url, 2, true, config).await.unwrap();
    let wal = dir.path().join("kept.db-wal");
    let (_, written) = sustained_writes(&store, &wal, 8 << 20).await;
    // Idle: the checkpointer empties the WAL.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
    drop(store);
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM filler")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows as u64 * 8192, written);
}
