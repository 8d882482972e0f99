//! Caller data at rest, looked at beneath the store: the SQLite file's
//! bytes and every PostgreSQL table hold no caller name, phone, address or
//! description in clear; key rotation re-seals rows under an old key and
//! rows from before encryption, resumably, and the phone lookup finds them
//! afterwards.

use std::{str::FromStr, sync::Arc};

use sqlx::{Connection, postgres::PgConnectOptions};

use chrono::TimeDelta;

use crate::{PiiCodec, PiiKeyring, Store, TicketQuery, testing::TestBackend};
use hotline_domain::{
    Action,
    lifecycle::IntakePatch,
    ticket::{RequestType, Ticket},
};

use super::{
    events::execute,
    fixtures::{agent, create_at, full_intake, intake, micros, step, t0},
};

/// What the fixtures' callers said, none of which may be stored in clear.
const SECRETS: &[&str] = &[
    "13800131234",
    "张三",
    "文三路",
    "工地夜间施工",
    "13900001111",
    "李四",
];

/// The first column of every row of `sql`, as text.
async fn strings(backend: &TestBackend, url: &str, schema: Option<&str>, sql: &str) -> Vec<String> {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match (backend, schema) {
        (TestBackend::Postgres(_), Some(schema)) => {
            let options = PgConnectOptions::from_str(url)
                .expect("TEST_DATABASE_URL")
                .options([("search_path", schema)]);
            let mut conn = sqlx::PgConnection::connect_with(&options)
                .await
                .expect("connect to PostgreSQL");
            let rows: Vec<(String,)> = sqlx::query_as(sql)
                .fetch_all(&mut conn)
                .await
                .expect("query");
            rows.into_iter().map(|(s,)| s).collect()
        }
        _ => {
            let mut conn = sqlx::SqliteConnection::connect(url)
                .await
                .expect("open the SQLite file");
            let rows: Vec<(String,)> = sqlx::query_as(sql)
                .fetch_all(&mut conn)
                .await
                .expect("query");
            rows.into_iter().map(|(s,)| s).collect()
        }
    }
}

pub(super) fn keyring(lines: &[(&str, u8)]) -> PiiCodec {
    keyring_indexed(42, lines)
}

/// A keyring whose index key is 32 bytes of `index`.
fn keyring_indexed(index: u8, lines: &[(&str, u8)]) -> PiiCodec {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let mut text = format!("{} {}\n", crate::INDEX_KEY_ID, STANDARD.encode([index; 32]));
    for (id, byte) in lines {
        text.push_str(&format!("{id} {}\n", STANDARD.encode([*byte; 32])));
    }
    PiiCodec::new(PiiKeyring::parse(&text, None).expect("test keyring"))
}

/// Tickets are written with every caller field sealed: the SQLite file and
/// its write-ahead log (bytes), or every table of the PostgreSQL schema
/// (each row as JSON), contain none of the callers' words, and the store
/// still reads them back and finds them by phone.
pub async fn caller_data_is_sealed_at_rest(backend: &TestBackend) {
    let database = Arc::new(backend.fresh_database().await);
    let store = database.clone().open().await;
    let (a, _) = create_at(&*store, full_intake(), t0(), None).await;
    let phone = "13900001111";
    let (b, _) = create_at(
        &*store,
        intake("330106", RequestType::Help, Some(phone)),
        t0() + micros(1),
        None,
    )
    .await;
    assert_eq!(store.get_ticket(a.id).await.expect("read back"), a);
    let mut by_phone = TicketQuery::all(10);
    by_phone.caller_phone = Some(phone.into());
    let found = store.list_tickets(&by_phone).await.expect("lookup");
    assert_eq!(found, vec![b.clone()], "found through the blind index");

    let (url, schema) = database.location();
    let dump: String = match database.sqlite_file() {
        Some(file) => {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal"] {
                let mut path = file.as_os_str().to_owned();
                path.push(suffix);
                bytes.extend(std::fs::read(&path).unwrap_or_default());
            }
            assert!(bytes.len() > 4096, "the file holds the database");
            String::from_utf8_lossy(&bytes).into_owned()
        }
        None => {
            let tables = strings(
                backend,
                url,
                schema,
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .await;
            assert!(tables.iter().any(|t| t == "tickets"), "{tables:?}");
            let mut dump = String::new();
            for table in tables {
                let sql = format!("SELECT row_to_json(t)::text FROM {table} t");
                dump.extend(strings(backend, url, schema, &sql).await);
            }
            dump
        }
    };
    assert!(dump.contains("pii1:"), "sealed values are stored");
    for secret in SECRETS {
        assert!(!dump.contains(secret), "{secret:?} is stored in clear");
    }
}

/// A rotation: rows under the old key and a row from before encryption
/// (clear text, no key, no blind index) are all readable with the new
/// keyring; re-sealing in small steps puts every row under the new key,
/// skips what it already did when run again, and afterwards the old key
/// can go and the clear row is found by phone.
pub async fn key_rotation_reseals_old_and_clear_rows(backend: &TestBackend) {
    let database = Arc::new(backend.fresh_database().await);
    let old = database.clone().open_with_pii(keyring(&[("k1", 1)])).await;
    let phone = "13900001111";
    let mut tickets: Vec<Ticket> = Vec::new();
    for i in 0..5 {
        let new = intake("330106", RequestType::Help, Some(phone));
        tickets.push(create_at(&*old, new, t0() + micros(i), None).await.0);
    }
    // The last one as a row written before encryption.
    let legacy = &tickets[4];
    let (url, schema) = database.location();
    let (url, schema) = (url.to_owned(), schema.map(str::to_owned));
    execute(
        backend,
        &url,
        schema.as_deref(),
        format!(
            "UPDATE tickets SET caller_name = '李四', caller_phone = '{phone}', \
             address = '{}', description = '{}', pii_key_id = NULL, caller_phone_index = NULL \
             WHERE id = '{}'",
            legacy.intake.address, legacy.intake.description, legacy.id
        ),
    )
    .await;

    let rotated = database
        .clone()
        .open_with_pii(keyring(&[("k1", 1), ("k2", 2)]))
        .await;
    for t in &tickets {
        assert_eq!(&rotated.get_ticket(t.id).await.expect("readable"), t);
    }
    let mut by_phone = TicketQuery::all(100);
    by_phone.caller_phone = Some(phone.into());
    let before = rotated.list_tickets(&by_phone).await.expect("lookup");
    assert_eq!(before.len(), 4, "the clear row has no blind index yet");
    assert_eq!(rotated.count_stale_pii().await.expect("count"), 5);

    let first = rotated.reseal_pii(None, 2).await.expect("first step");
    assert_eq!((first.found, first.resealed), (2, 2));
    let mut after = first.last;
    let mut resealed = first.resealed;
    // Stopped here and started again: rows done are not found again.
    loop {
        let step = rotated.reseal_pii(after, 2).await.expect("step");
        resealed += step.resealed;
        if step.last.is_none() {
            break;
        }
        after = step.last;
    }
    assert_eq!(resealed, 5);
    assert_eq!(rotated.count_stale_pii().await.expect("count"), 0);
    let again = rotated.reseal_pii(None, 100).await.expect("again");
    assert_eq!((again.found, again.resealed), (0, 0), "idempotent");
    let keys = strings(
        backend,
        &url,
        schema.as_deref(),
        "SELECT pii_key_id FROM tickets",
    )
    .await;
    assert_eq!(keys, vec!["k2"; 5]);

    let new_only = database.clone().open_with_pii(keyring(&[("k2", 2)])).await;
    for t in &tickets {
        let read = new_only
            .get_ticket(t.id)
            .await
            .expect("readable without k1");
        assert_eq!(&read, t, "same ticket, same version");
    }
    let after_rotation = new_only.list_tickets(&by_phone).await.expect("lookup");
    assert_eq!(after_rotation.len(), 5, "the clear row is found now");
}

/// The one way to replace the blind-index key today (docs/security.md):
/// a new index key and a new data key together, then the rotation. Until
/// it runs, lookups by phone miss the old rows; re-sealing a row indexes
/// it under the new key, so afterwards every row is found, and none under
/// the old index key.
pub async fn a_new_index_key_with_a_new_data_key_reindexes_on_rotation(backend: &TestBackend) {
    let database = Arc::new(backend.fresh_database().await);
    let old = database.clone().open_with_pii(keyring(&[("k1", 1)])).await;
    let phone = "13900002222";
    for i in 0..3 {
        let new = intake("330106", RequestType::Help, Some(phone));
        create_at(&*old, new, t0() + micros(i), None).await;
    }
    let mut by_phone = TicketQuery::all(100);
    by_phone.caller_phone = Some(phone.into());
    assert_eq!(old.list_tickets(&by_phone).await.expect("lookup").len(), 3);

    let replaced = database
        .clone()
        .open_with_pii(keyring_indexed(43, &[("k1", 1), ("k2", 2)]))
        .await;
    let window = replaced.list_tickets(&by_phone).await.expect("lookup");
    assert_eq!(window.len(), 0, "old rows are indexed under the old key");
    rotate_all(&*replaced).await;
    assert_eq!(replaced.count_stale_pii().await.expect("count"), 0);
    let found = replaced.list_tickets(&by_phone).await.expect("lookup");
    assert_eq!(found.len(), 3, "every row re-indexed under the new key");
    let old_index = database
        .clone()
        .open_with_pii(keyring_indexed(42, &[("k1", 1), ("k2", 2)]))
        .await;
    let stale = old_index.list_tickets(&by_phone).await.expect("lookup");
    assert_eq!(
        stale.len(),
        0,
        "nothing is indexed under the old key any more"
    );
}

/// Re-seals every ticket under `store`'s current key, step by step.
async fn rotate_all(store: &dyn Store) {
    let mut after = None;
    loop {
        let step = store.reseal_pii(after, 2).await.expect("step");
        if step.last.is_none() {
            break;
        }
        after = step.last;
    }
}

/// Text sketches are keyed from the index key, so replacing it (with a new
/// data key, as above) must re-key them: the rotation rewrites the sketch
/// of every row it re-seals, and a row a transition moves to the new data
/// key during the window (so the rotation passes it by) has its old-keyed
/// sketch cleared, to be computed from its text on read. Afterwards every
/// sketch read is the one the new key gives its text, so tickets from
/// before the replacement are still found as duplicates of new ones.
pub async fn sketches_follow_a_new_index_key(backend: &TestBackend) {
    let database = Arc::new(backend.fresh_database().await);
    let old = database.clone().open_with_pii(keyring(&[("k1", 1)])).await;
    let texts = [
        ("路灯不亮", "文三路90号小区门口的路灯坏了一周，晚上很黑"),
        ("噪音扰民", "工地夜间施工到凌晨两点，影响休息"),
        ("垃圾清运", "学院路口垃圾桶满了三天没人清运"),
    ];
    let mut tickets = Vec::new();
    for (i, (title, description)) in (0_i64..).zip(texts) {
        let mut new = intake("330106", RequestType::Complaint, Some("13900004444"));
        new.title = title.into();
        new.description = description.into();
        tickets.push(create_at(&*old, new, t0() + micros(i), None).await.0);
    }

    let replaced = database
        .clone()
        .open_with_pii(keyring_indexed(43, &[("k1", 1), ("k2", 2)]))
        .await;
    // During the window a correction of the address (not the text) writes
    // the first ticket under k2.
    let mut values = tickets[0].intake.clone();
    values.address = "文三路 92 号".into();
    let patch = IntakePatch {
        values: Some(Box::new(values)),
        fields: vec!["address".into()],
        region_note: None,
    };
    step(
        &*replaced,
        &tickets[0],
        Action::Update(patch),
        &agent(),
        t0() + TimeDelta::minutes(1),
    )
    .await;
    rotate_all(&*replaced).await;
    assert_eq!(replaced.count_stale_pii().await.expect("count"), 0);

    let all = TicketQuery::all(10);
    let read = replaced.list_ticket_sketches(&all).await.expect("sketches");
    assert_eq!(read.len(), texts.len());
    for row in &read {
        let t = tickets.iter().find(|t| t.id == row.id).expect("listed");
        let expected = replaced
            .text_sketch(&t.intake.title, &t.intake.description)
            .await
            .expect("text_sketch");
        assert_eq!(row.sketch, expected, "{} under the new key", t.intake.title);
        let under_old = old
            .text_sketch(&t.intake.title, &t.intake.description)
            .await
            .expect("text_sketch");
        assert!(row.sketch.similarity(&under_old) < 0.1, "not the old key's");
    }
}
