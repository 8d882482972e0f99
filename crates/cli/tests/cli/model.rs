//! `hotline model train` on the closed tickets of the shipped legacy
//! sample, imported into the demo city: a version stored with its figures
//! and audit events, activated on request; a database without closed
//! tickets of two units trains nothing.

use crate::{
    hotline,
    import::{deploy, import, seeded},
    succeeded,
};

/// (version, trained_on) of the stored models, the active version, and
/// (kind, version, actor) of the audit trail.
type Stored = (Vec<(i64, i64)>, i64, Vec<(String, i64, String)>);

fn stored(url: &str) -> Stored {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let models =
            sqlx::query_as("SELECT version, trained_on FROM dispatch_models ORDER BY version")
                .fetch_all(&pool)
                .await
                .unwrap();
        let (active,): (i64,) = sqlx::query_as("SELECT version FROM dispatch_model_active")
            .fetch_one(&pool)
            .await
            .unwrap();
        let events =
            sqlx::query_as("SELECT kind, version, actor FROM dispatch_model_events ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        (models, active, events)
    })
}

#[test]
fn model_train_learns_from_closed_tickets_and_activates_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path());
    let train = |extra: &[&str]| {
        hotline(dir.path())
            .args(["model", "train", "--database-url", &url, "--actor", "alice"])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = train(&[]);
    assert!(!refused.status.success(), "no closed tickets yet");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("at least two units"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    succeeded(import(dir.path(), &url, &deploy("sample-12315.csv"), &[]));

    let printed = succeeded(train(&["--note", "nightly", "--activate"]));
    assert!(
        printed.starts_with("trained dispatchModels/1:"),
        "{printed}"
    );
    assert!(printed.contains("dispatchModels/1 is active"), "{printed}");
    let (models, active, events) = stored(&url);
    assert_eq!(models.len(), 1);
    assert!(
        models[0].1 >= 10,
        "fitted on the closed tickets: {models:?}"
    );
    assert_eq!(active, 1);
    let event = |kind: &str, version| (kind.to_owned(), version, "cli:alice".to_owned());
    assert_eq!(events, [event("trained", 1), event("activated", 1)]);

    let printed = succeeded(train(&[]));
    assert!(
        printed.starts_with("trained dispatchModels/2:"),
        "{printed}"
    );
    let (models, active, _) = stored(&url);
    assert_eq!((models.len(), active), (2, 1), "stored, not activated");
}
