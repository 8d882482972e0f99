//! Ticket numbers: the daily `YYYYMMDD` + sequence numbering, serial and
//! concurrent.

use std::sync::Arc;

use crate::{Store, TicketQuery};
use hotline_domain::ticket::{RequestType, Ticket};

use super::fixtures::{
    agent, all_events, beijing_day, create_at, day, full_intake, insert, intake, micros, t0, utc,
};

/// `create_ticket` numbers tickets `YYYYMMDD` + a 6-digit sequence that counts
/// 1, 2, … within each local day, restarts on a new day, and continues a day's
/// own sequence when a late ticket still counts in an earlier day. The
/// `created` event carries the number.
pub async fn ticket_numbers_follow_the_daily_sequence(store: Arc<dyn Store>) {
    let store = store.as_ref();
    // 23:59:59.999999 and 00:00:00 on the centre's clock (UTC+8).
    let before_midnight = utc(2026, 11, 23, 15, 59, 59, 999_999);
    let after_midnight = utc(2026, 11, 23, 16, 0, 0, 0);
    assert_eq!(beijing_day(before_midnight), day(2026, 11, 23));
    assert_eq!(beijing_day(after_midnight), day(2026, 11, 24));

    let mut numbers = Vec::new();
    for i in 0..3 {
        let (t, event) = create_at(
            store,
            intake("330106", RequestType::Enquiry, Some("13800131234")),
            t0() + micros(i),
            None,
        )
        .await;
        assert_eq!(
            all_events(store, t.id).await,
            vec![event],
            "created event carries the number"
        );
        numbers.push(t.number);
    }
    let (t, _) = create_at(store, full_intake(), before_midnight, None).await;
    numbers.push(t.number);
    let (t, _) = create_at(store, full_intake(), after_midnight, None).await;
    numbers.push(t.number);
    let (t, _) = create_at(store, full_intake(), after_midnight + micros(1), None).await;
    numbers.push(t.number);

    // A ticket that still counts in the previous day continues that day's sequence.
    let created = Ticket::accept(full_intake(), String::new(), &agent(), after_midnight);
    let late = insert(store, created, day(2026, 11, 23), None)
        .await
        .expect("create_ticket");
    numbers.push(late.number);

    // A new year and a single-digit month/day keep the fixed width.
    let created = Ticket::accept(full_intake(), String::new(), &agent(), t0());
    let new_year = insert(store, created, day(2027, 1, 5), None)
        .await
        .expect("create_ticket");
    numbers.push(new_year.number);

    assert_eq!(
        numbers,
        [
            "20261123000001",
            "20261123000002",
            "20261123000003",
            "20261123000004",
            "20261124000001",
            "20261124000002",
            "20261123000005",
            "20270105000001",
        ]
    );
}

/// Tickets created concurrently on the same day all get distinct numbers
/// 1..=n: the daily counter is incremented atomically.
pub async fn concurrent_creates_get_distinct_numbers(store: Arc<dyn Store>) {
    const N: i64 = 20;
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let now = t0() + micros(i);
            let created = Ticket::accept(
                intake("330106", RequestType::Help, Some("13800131234")),
                String::new(),
                &agent(),
                now,
            );
            insert(store.as_ref(), created, beijing_day(now), None).await
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        let ticket = task.await.expect("task").expect("concurrent create_ticket");
        numbers.push(ticket.number);
    }
    numbers.sort();
    let expected: Vec<String> = (1..=N).map(|n| format!("20261123{n:06}")).collect();
    assert_eq!(
        numbers, expected,
        "concurrent creates take each number exactly once"
    );
    let listed = store
        .list_tickets(&TicketQuery::all(100))
        .await
        .expect("list_tickets");
    assert_eq!(listed.len(), N as usize);
}
