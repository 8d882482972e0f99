//! Event rows as earlier versions wrote them: inserted with plain SQL,
//! exactly as `tests/fixtures/ticket_events_v1.tsv` holds them (captured
//! from the untyped code), they read back through the store, and write back
//! identically; a kind from a newer version is an error naming it.

use std::str::FromStr;

use sqlx::{Connection, postgres::PgConnectOptions};

use crate::{
    StoreError,
    testing::{TestBackend, open_in_schema},
};

use super::fixtures::{all_events, create_at, full_intake, t0};

const ROWS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/ticket_events_v1.tsv"
));

/// A SQL string literal (both backends: quotes doubled, backslashes plain).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One `ticket_events` row for `ticket_id` at `sequence`, with the
/// fixture row's other columns as they were stored.
fn insert_row(ticket_id: &str, sequence: usize, columns: &[&str]) -> String {
    let [_, _, kind, actor, role, from, to, payload, time_us] = columns else {
        panic!("fixture row with {} columns", columns.len());
    };
    let from = if from.is_empty() {
        "NULL".to_owned()
    } else {
        literal(from)
    };
    format!(
        "INSERT INTO ticket_events (ticket_id, sequence, kind, actor, actor_role, from_state, \
         to_state, payload, time_us) VALUES ({}, {sequence}, {}, {}, {}, {from}, {}, {}, {});",
        literal(ticket_id),
        literal(kind),
        literal(actor),
        literal(role),
        literal(to),
        literal(payload),
        time_us.parse::<i64>().expect("fixture time_us"),
    )
}

/// Runs `sql` on the database of a store opened at `url` (in `schema`).
pub(super) async fn execute(backend: &TestBackend, url: &str, schema: Option<&str>, sql: String) {
    let sql = sqlx::AssertSqlSafe(sql);
    match (backend, schema) {
        (TestBackend::Postgres(_), Some(schema)) => {
            let options = PgConnectOptions::from_str(url)
                .expect("TEST_DATABASE_URL")
                .options([("search_path", schema)]);
            let mut conn = sqlx::PgConnection::connect_with(&options)
                .await
                .expect("connect to PostgreSQL");
            sqlx::raw_sql(sql)
                .execute(&mut conn)
                .await
                .expect("insert old rows");
        }
        _ => {
            let mut conn = sqlx::SqliteConnection::connect(url)
                .await
                .expect("open the SQLite file");
            sqlx::raw_sql(sql)
                .execute(&mut conn)
                .await
                .expect("insert old rows");
        }
    }
}

/// Rows of every kind, written as the untyped code wrote them, read back
/// through `list_events` and encoded again to the very same text; then a
/// row of a kind this version does not know makes `list_events` fail with
/// an error that names the kind, and nothing panics.
pub async fn events_written_by_earlier_versions_stay_readable(backend: &TestBackend) {
    let database = backend.fresh_database().await;
    let (url, schema) = database.location();
    let (url, schema) = (url.to_owned(), schema.map(str::to_owned));
    let store = open_in_schema(&url, schema.as_deref(), 2)
        .await
        .expect("open test store");
    let store = store.as_ref();
    let (ticket, _) = create_at(store, full_intake(), t0(), None).await;
    let id = ticket.id.to_string();
    let rows: Vec<Vec<&str>> = ROWS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("ticket_id\t"))
        .map(|l| l.split('\t').collect())
        .collect();
    // After the ticket's own `created` event (sequence 1).
    let inserts: String = rows
        .iter()
        .enumerate()
        .map(|(i, columns)| insert_row(&id, i + 2, columns))
        .collect();
    execute(backend, &url, schema.as_deref(), inserts).await;

    let events = all_events(store, ticket.id).await;
    assert_eq!(events.len(), rows.len() + 1, "every old row is listed");
    for (event, columns) in events[1..].iter().zip(&rows) {
        let at = format!("old row {} ({})", event.sequence, columns[2]);
        assert_eq!(event.kind.event_type(), columns[2], "{at}");
        let payload = event.kind.payload().expect("encodes");
        assert_eq!(
            payload.to_string(),
            columns[7],
            "{at} writes back identically"
        );
    }

    let future = [
        "",
        "",
        "split_into",
        "agent-0001",
        "agent",
        "",
        "merged",
        "{}",
        "0",
    ];
    let sequence = rows.len() + 2;
    execute(
        backend,
        &url,
        schema.as_deref(),
        insert_row(&id, sequence, &future),
    )
    .await;
    match store.list_events(ticket.id, 0, 1000).await {
        Err(err @ StoreError::Internal { .. }) => {
            // The kind is named by the domain's error, kept as the source.
            let message = err.report();
            assert!(
                message.contains("split_into") && message.contains(&format!("#{sequence}")),
                "the error names the row and its kind: {message}"
            );
        }
        other => panic!("an unknown kind must be an error, got {other:?}"),
    }
}
