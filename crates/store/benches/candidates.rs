#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! One duplicate search's store reads and comparisons, the old way and the
//! new, on a street holding [`PLACE_ROWS`] open tickets and a caller with
//! [`CALLER_ROWS`] recent ones (the most a search reads), their texts the
//! real messages of `tests/data/messages-train.csv`:
//!
//! - `candidates/whole_tickets` (before session 12): both lists read whole
//!   tickets (every row's five caller fields opened) and every row's text
//!   is shingled and compared exactly;
//! - `candidates/stored_sketches` (now): the probe's text sketched once,
//!   both lists read as (id, time, state, sketch), compared by sketch, and
//!   the ten best read whole by id; the place read asks for the four open
//!   states, as the service does (since session 13 one range of the
//!   street's partial index of open tickets, before four per-state parts);
//! - `candidates/shingles_of_one_text`, `candidates/sketch_of_one_text`:
//!   what a write now pays for the sketch of one text.
//!
//! SQLite in a temporary file by default; PostgreSQL with
//! `TEST_DATABASE_URL=postgres://…` (a fresh schema). Run:
//! `cargo bench -p hotline-store --features testing --bench candidates`.

use std::hint::black_box;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

use hotline_domain::{
    Caller, Principal, RegionCode, Role, TicketId,
    duplicates::{Shingles, SketchKey, TextSketch, score},
    ticket::{Channel, Intake, RequestType, TicketState, Urgency},
};
use hotline_store::{
    Store, TicketQuery,
    testing::{TestBackend, store_intake},
};

const CALLER_ROWS: u32 = 50;
const PLACE_ROWS: u32 = 100;
const SHOWN: usize = 10;
const STREET: &str = "330106001";
const PHONE: &str = "13800131234";

fn messages() -> Vec<(String, String)> {
    const CSV: &str = include_str!("../../../tests/data/messages-train.csv");
    csv::Reader::from_reader(CSV.as_bytes())
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[2].to_owned(), r[4].to_owned())
        })
        .collect()
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn populate(store: &dyn Store) {
    let agent = Principal {
        subject: "agent-0001".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    };
    let texts = messages();
    // The caller's tickets elsewhere, then the street's (other callers).
    let rows = (0..CALLER_ROWS + PLACE_ROWS).map(|i| {
        let (region, phone) = if i < CALLER_ROWS {
            ("330102001", PHONE.to_owned())
        } else {
            (STREET, format!("139{i:08}"))
        };
        (i, region, phone)
    });
    for (i, region, phone) in rows {
        let (title, description) = texts[i as usize % texts.len()].clone();
        let intake = Intake {
            channel: Channel::Phone,
            legacy_hotline: None,
            caller: Caller::parse("张三", &phone, false).unwrap(),
            confidential: false,
            request_type: RequestType::Complaint,
            urgency: Urgency::Normal,
            subject_code: None,
            region_code: RegionCode::parse(region).unwrap(),
            address: "文三路 90 号".into(),
            title,
            description,
        };
        let now = t0() + TimeDelta::minutes(i64::from(i));
        store_intake(store, intake, &agent, now).await.unwrap();
    }
}

fn queries() -> (TicketQuery, TicketQuery) {
    let mut caller = TicketQuery::all(CALLER_ROWS);
    caller.caller_phone = Some(PHONE.into());
    caller.created_from = Some(t0());
    let mut place = TicketQuery::all(PLACE_ROWS);
    // The open states, as the service asks (`OPEN_STATES`, written out so
    // the same bench runs on a tree from before the open-place indexes).
    place.states = vec![
        TicketState::PendingDispatch,
        TicketState::Dispatched,
        TicketState::InProgress,
        TicketState::ReturnRequested,
    ];
    place.region_prefix = Some(STREET.into());
    place.created_from = Some(t0());
    (caller, place)
}

/// The search as it was: whole tickets, every text shingled.
async fn whole_tickets(store: &dyn Store, probe: &(String, String)) -> usize {
    let text = Shingles::of(&probe.0, &probe.1);
    let (caller, place) = queries();
    let by_caller = store.list_tickets(&caller).await.unwrap();
    let by_place = store.list_tickets(&place).await.unwrap();
    let caller_ids: Vec<TicketId> = by_caller.iter().map(|t| t.id).collect();
    let mut found = Vec::new();
    for t in by_caller.into_iter().chain(by_place) {
        let similarity = text.similarity(&Shingles::of_ticket(&t));
        if let Some(s) = score(caller_ids.contains(&t.id), true, similarity) {
            found.push((t, s));
        }
    }
    found.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    found.truncate(SHOWN);
    found.len()
}

/// The search now: sketches, then the shown tickets by id.
async fn stored_sketches(store: &dyn Store, probe: &(String, String)) -> usize {
    let text = store.text_sketch(&probe.0, &probe.1).await.unwrap();
    let (caller, place) = queries();
    let by_caller = store.list_ticket_sketches(&caller).await.unwrap();
    let by_place = store.list_ticket_sketches(&place).await.unwrap();
    let caller_ids: Vec<TicketId> = by_caller.iter().map(|t| t.id).collect();
    let mut found = Vec::new();
    for t in by_caller.into_iter().chain(by_place) {
        let similarity = text.similarity(&t.sketch);
        if let Some(s) = score(caller_ids.contains(&t.id), true, similarity) {
            found.push((t, s));
        }
    }
    found.sort_by(|a, b| b.1.score.total_cmp(&a.1.score));
    found.truncate(SHOWN);
    let ids: Vec<TicketId> = found.iter().map(|(t, _)| t.id).collect();
    store.get_tickets(&ids).await.unwrap().len()
}

fn candidates(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let test_store = rt.block_on(TestBackend::from_env().fresh_store());
    let store = test_store.store();
    rt.block_on(populate(store.as_ref()));
    let probe = messages()[3].clone();
    assert_eq!(
        rt.block_on(whole_tickets(store.as_ref(), &probe)),
        rt.block_on(stored_sketches(store.as_ref(), &probe))
    );
    let mut group = c.benchmark_group("candidates");
    group.bench_function("whole_tickets", |b| {
        b.iter(|| rt.block_on(whole_tickets(store.as_ref(), black_box(&probe))));
    });
    group.bench_function("stored_sketches", |b| {
        b.iter(|| rt.block_on(stored_sketches(store.as_ref(), black_box(&probe))));
    });
    // What a write pays for the sketch (intake, a corrected text): the
    // shingling the old search paid per row, and the sketch on top of it.
    let key = SketchKey::new([7; 32]);
    group.bench_function("shingles_of_one_text", |b| {
        b.iter(|| Shingles::of(black_box(&probe.0), black_box(&probe.1)));
    });
    group.bench_function("sketch_of_one_text", |b| {
        b.iter(|| TextSketch::of(black_box(&probe.0), black_box(&probe.1), &key));
    });
    group.finish();
}

criterion_group!(benches, candidates);
criterion_main!(benches);
