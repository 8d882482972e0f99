//! The PII access log.

use std::sync::Arc;

use crate::{PiiAccess, Store};
use hotline_domain::TicketId;

use super::fixtures::{create_at, full_intake, is_not_found, micros, t0};

/// Every recorded PII access counts for its ticket only; an access to an
/// unknown ticket is rejected (`NotFound`).
pub async fn pii_access_is_logged_per_ticket(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (a, _) = create_at(store, full_intake(), t0(), None).await;
    let (b, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    assert_eq!(store.count_pii_access(a.id).await.expect("count"), 0);
    for (i, purpose) in ["GetTicket", "GetTicket", "LookupCaller"]
        .into_iter()
        .enumerate()
    {
        store
            .record_pii_access(&PiiAccess {
                subject: "agent-0001".into(),
                ticket_id: a.id,
                purpose,
                time: t0() + micros(10 + i as i64),
            })
            .await
            .expect("record_pii_access");
    }
    store
        .record_pii_access(&PiiAccess {
            subject: "supervisor-1".into(),
            ticket_id: b.id,
            purpose: "GetTicket",
            time: t0() + micros(20),
        })
        .await
        .expect("record_pii_access");
    assert_eq!(store.count_pii_access(a.id).await.expect("count"), 3);
    assert_eq!(store.count_pii_access(b.id).await.expect("count"), 1);

    let unknown = TicketId::generate(t0());
    let result = store
        .record_pii_access(&PiiAccess {
            subject: "agent-0001".into(),
            ticket_id: unknown,
            purpose: "GetTicket",
            time: t0(),
        })
        .await;
    assert!(
        is_not_found(&result),
        "PII access of an unknown ticket must be NotFound, got {result:?}"
    );
    assert_eq!(store.count_pii_access(unknown).await.expect("count"), 0);
}
