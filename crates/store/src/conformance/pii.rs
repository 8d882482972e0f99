//! The PII access log: recorded per call, read by ticket, reader and
//! period in pages, purged by age.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{PiiAccess, PiiAccessCursor, PiiAccessQuery, PiiAccessRecord, Store};
use hotline_domain::TicketId;

use super::fixtures::{create_at, full_intake, is_not_found, micros, t0};

fn access(
    subject: &str,
    rpc: &'static str,
    tickets: &[TicketId],
    time: DateTime<Utc>,
) -> PiiAccess {
    PiiAccess {
        subject: subject.into(),
        role: if subject.starts_with("auditor") {
            "auditor"
        } else {
            "agent"
        }
        .into(),
        rpc,
        purpose: match rpc {
            "LookupCaller" => "caller_lookup",
            "ListPiiAccess" => "access_audit",
            _ => "ticket_view",
        },
        tickets: tickets.to_vec(),
        time,
    }
}

async fn list(store: &dyn Store, query: PiiAccessQuery) -> Vec<PiiAccessRecord> {
    store
        .list_pii_access(&query)
        .await
        .expect("list_pii_access")
}

/// Every recorded PII access counts for its ticket only; an access to an
/// unknown ticket is rejected (`NotFound`).
pub async fn pii_access_is_logged_per_ticket(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (a, _) = create_at(store, full_intake(), t0(), None).await;
    let (b, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    assert_eq!(store.count_pii_access(a.id).await.expect("count"), 0);
    for (i, rpc) in ["GetTicket", "GetTicket", "LookupCaller"]
        .into_iter()
        .enumerate()
    {
        store
            .record_pii_access(&access(
                "agent-0001",
                rpc,
                &[a.id],
                t0() + micros(10 + i as i64),
            ))
            .await
            .expect("record_pii_access");
    }
    store
        .record_pii_access(&access(
            "supervisor-1",
            "GetTicket",
            &[b.id],
            t0() + micros(20),
        ))
        .await
        .expect("record_pii_access");
    assert_eq!(store.count_pii_access(a.id).await.expect("count"), 3);
    assert_eq!(store.count_pii_access(b.id).await.expect("count"), 1);

    let unknown = TicketId::generate(t0());
    let result = store
        .record_pii_access(&access("agent-0001", "GetTicket", &[unknown], t0()))
        .await;
    assert!(
        is_not_found(&result),
        "PII access of an unknown ticket must be NotFound, got {result:?}"
    );
    assert_eq!(store.count_pii_access(unknown).await.expect("count"), 0);
}

/// A read of many tickets is one row that lists them all, found by each of
/// them; a read of none (the log itself) is a row found by no ticket.
pub async fn a_bulk_pii_read_is_one_row_found_by_each_ticket(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut tickets = Vec::new();
    for i in 0..5 {
        tickets.push(
            create_at(store, full_intake(), t0() + micros(i), None)
                .await
                .0
                .id,
        );
    }
    let lookup = access("agent-0001", "LookupCaller", &tickets, t0() + micros(100));
    store.record_pii_access(&lookup).await.expect("bulk read");
    let audit = access("auditor-1", "ListPiiAccess", &[], t0() + micros(200));
    store.record_pii_access(&audit).await.expect("audit read");

    let all = list(
        store,
        PiiAccessQuery {
            limit: 10,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(all.len(), 2, "one row per call: {all:?}");
    assert_eq!(all[0].rpc, "ListPiiAccess");
    assert!(all[0].tickets.is_empty());
    assert_eq!(
        (
            all[1].subject.as_str(),
            all[1].role.as_str(),
            all[1].rpc.as_str()
        ),
        ("agent-0001", "agent", "LookupCaller")
    );
    assert_eq!(all[1].purpose, "caller_lookup");
    assert_eq!(all[1].tickets, tickets);
    assert_eq!(all[1].time, t0() + micros(100));
    for id in &tickets {
        let by_ticket = list(
            store,
            PiiAccessQuery {
                ticket: Some(*id),
                limit: 10,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(by_ticket.len(), 1, "the bulk row is found by {id}");
        assert_eq!(store.count_pii_access(*id).await.expect("count"), 1);
    }
}

/// Filters by ticket, reader and period combine; pages follow the keyset
/// newest first without gaps or repeats, also when rows share a time.
pub async fn pii_access_lists_filter_and_page(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (a, _) = create_at(store, full_intake(), t0(), None).await;
    let (b, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    // 12 rows: readers alternate, tickets alternate, two rows per instant.
    for i in 0..12_i64 {
        let reader = if i % 2 == 0 {
            "agent-0001"
        } else {
            "agent-0002"
        };
        let ticket = if i % 3 == 0 { b.id } else { a.id };
        let at = t0() + micros(1000 + i / 2);
        store
            .record_pii_access(&access(reader, "GetTicket", &[ticket], at))
            .await
            .expect("record");
    }
    let everything = list(
        store,
        PiiAccessQuery {
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(everything.len(), 12);
    assert!(
        everything
            .windows(2)
            .all(|w| (w[0].time, w[0].id) > (w[1].time, w[1].id)),
        "newest first"
    );

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = list(
            store,
            PiiAccessQuery {
                after,
                limit: 5,
                ..Default::default()
            },
        )
        .await;
        after = page.last().map(|r| PiiAccessCursor {
            time: r.time,
            id: r.id,
        });
        let full = page.len() == 5;
        paged.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(paged, everything, "pages add up to the whole list");

    let by_reader = list(
        store,
        PiiAccessQuery {
            subject: Some("agent-0002".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_reader.len(), 6);
    assert!(by_reader.iter().all(|r| r.subject == "agent-0002"));

    let by_ticket = list(
        store,
        PiiAccessQuery {
            ticket: Some(b.id),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_ticket.len(), 4, "i = 0, 3, 6, 9");

    let period = list(
        store,
        PiiAccessQuery {
            from: Some(t0() + micros(1001)),
            to: Some(t0() + micros(1003)),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(period.len(), 4, "two instants, two rows each");

    let combined = list(
        store,
        PiiAccessQuery {
            ticket: Some(a.id),
            subject: Some("agent-0001".into()),
            from: Some(t0() + micros(1001)),
            to: Some(t0() + micros(1006)),
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    // Readers 0001 are the even i; ticket a is i not divisible by 3;
    // instants 1001..1006 are i = 2..=11: i = 2, 4, 8, 10.
    assert_eq!(combined.len(), 4, "{combined:?}");
}

/// The purge deletes rows older than the cutoff, oldest first, at most
/// `limit` at a time, and nothing newer.
pub async fn pii_access_purge_removes_only_old_rows(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (a, _) = create_at(store, full_intake(), t0(), None).await;
    for i in 0..10 {
        store
            .record_pii_access(&access(
                "agent-0001",
                "GetTicket",
                &[a.id],
                t0() + micros(i),
            ))
            .await
            .expect("record");
    }
    let cutoff = t0() + micros(7);
    assert_eq!(store.purge_pii_access(cutoff, 4).await.expect("purge"), 4);
    assert_eq!(store.purge_pii_access(cutoff, 4).await.expect("purge"), 3);
    assert_eq!(store.purge_pii_access(cutoff, 4).await.expect("purge"), 0);
    let left = list(
        store,
        PiiAccessQuery {
            limit: 100,
            ..Default::default()
        },
    )
    .await;
    let times: Vec<_> = left.iter().map(|r| r.time).collect();
    assert_eq!(
        times,
        [t0() + micros(9), t0() + micros(8), t0() + micros(7)]
    );
}

/// Records of reads arriving together (written in groups) all land, each
/// as its own row with its own reader, ticket and time.
pub async fn concurrent_pii_reads_are_all_recorded(store: Arc<dyn Store>) {
    const READS: i64 = 60;
    let mut tickets = Vec::new();
    for i in 0..3 {
        let (t, _) = create_at(store.as_ref(), full_intake(), t0() + micros(i), None).await;
        tickets.push(t.id);
    }
    let tickets = Arc::new(tickets);
    let reads: Vec<_> = (0..READS)
        .map(|i| {
            let store = Arc::clone(&store);
            let tickets = Arc::clone(&tickets);
            tokio::spawn(async move {
                let reader = format!("agent-{i:04}");
                let shown = if i == 0 {
                    tickets.to_vec()
                } else {
                    vec![tickets[(i % 3) as usize]]
                };
                let rpc = if i == 0 { "LookupCaller" } else { "GetTicket" };
                let read = access(&reader, rpc, &shown, t0() + micros(1000 + i));
                store.record_pii_access(&read).await.map(|()| read)
            })
        })
        .collect();
    let mut expected = Vec::new();
    for read in reads {
        expected.push(read.await.expect("task").expect("recorded"));
    }
    let logged = list(
        store.as_ref(),
        PiiAccessQuery {
            limit: 1000,
            ..Default::default()
        },
    )
    .await;
    let mut logged: Vec<_> = logged
        .into_iter()
        .map(|r| (r.subject, r.rpc, r.tickets, r.time))
        .collect();
    let mut expected: Vec<_> = expected
        .into_iter()
        .map(|a| (a.subject, a.rpc.to_owned(), a.tickets, a.time))
        .collect();
    logged.sort();
    expected.sort();
    assert_eq!(logged, expected, "one row per read, none lost");
    for (n, id) in tickets.iter().enumerate() {
        let by_ticket = (1..READS).filter(|i| (i % 3) as usize == n).count() + 1;
        assert_eq!(
            store.count_pii_access(*id).await.expect("count"),
            by_ticket as i64
        );
    }
}

/// A record that cannot be written (its ticket does not exist) fails its
/// own read alone: the reads written in the same group still land.
pub async fn a_failing_pii_record_fails_only_its_own_read(store: Arc<dyn Store>) {
    const READS: i64 = 40;
    const BAD: i64 = 17;
    let (ticket, _) = create_at(store.as_ref(), full_intake(), t0(), None).await;
    let known = ticket.id;
    let unknown = TicketId::generate(t0());
    let reads: Vec<_> = (0..READS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let shown = if i == BAD { unknown } else { known };
                let read = access("agent-0001", "GetTicket", &[shown], t0() + micros(i));
                (i, store.record_pii_access(&read).await)
            })
        })
        .collect();
    for read in reads {
        let (i, result) = read.await.expect("task");
        if i == BAD {
            assert!(is_not_found(&result), "unknown ticket: {result:?}");
        } else {
            result.unwrap_or_else(|e| panic!("read {i} failed with the bad one: {e:?}"));
        }
    }
    assert_eq!(
        store.count_pii_access(known).await.expect("count"),
        READS - 1
    );
    assert_eq!(store.count_pii_access(unknown).await.expect("count"), 0);
}
