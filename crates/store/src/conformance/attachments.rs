//! Attachments' metadata: the upload states, the audit trail written with
//! each change, the sweep's and the retention's queries.

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{AttachmentRemoval, Store};
use hotline_domain::{
    Action, TicketId,
    attachment::{Attachment, AttachmentEventKind, AttachmentId, AttachmentState},
};

use super::fixtures::{agent, create_at, full_intake, is_not_found, micros, step, t0};

fn attachment(ticket: TicketId, offset_us: i64, name: &str) -> Attachment {
    let at = t0() + micros(offset_us);
    Attachment {
        id: AttachmentId::generate(at),
        ticket,
        state: AttachmentState::Uploading,
        file_name: name.into(),
        content_type: "application/pdf".into(),
        size_bytes: 12_345,
        sha256: "ab".repeat(32),
        shared_with_units: offset_us % 2 == 0,
        upload_id: None,
        uploader: "agent-0001".into(),
        uploader_role: "agent".into(),
        create_time: at,
    }
}

fn removal(kind: AttachmentEventKind) -> AttachmentRemoval {
    AttachmentRemoval {
        kind,
        actor: "admin-1".into(),
        actor_role: "admin".into(),
        time: t0() + micros(900),
    }
}

/// An upload is invisible until complete; completing it writes its event,
/// and it then reads back field by field; deleting it removes the row and
/// writes a second event. A ticket that does not exist takes no upload.
pub async fn attachments_become_visible_only_when_complete(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (ticket, _) = create_at(store, full_intake(), t0(), None).await;
    let mut a = attachment(ticket.id, 10, "现场照片.pdf");
    store.begin_attachment(&a).await.expect("begin_attachment");
    assert!(is_not_found(&store.get_attachment(a.id).await), "uploading");
    let listed = store.list_attachments(ticket.id, None, 10).await;
    assert_eq!(
        listed.expect("list"),
        vec![],
        "uploading files are not listed"
    );

    store
        .record_upload_id(a.id, "upload-1")
        .await
        .expect("record_upload_id");
    let completed = store
        .complete_attachment(a.id, t0() + micros(20))
        .await
        .expect("complete_attachment");
    a.state = AttachmentState::Complete;
    assert_eq!(completed, a, "complete clears the upload id");
    assert_eq!(store.get_attachment(a.id).await.expect("get"), a);
    assert!(
        is_not_found(&store.complete_attachment(a.id, t0()).await),
        "completing twice"
    );
    assert!(
        is_not_found(&store.record_upload_id(a.id, "x").await),
        "a complete file takes no upload id"
    );
    assert!(
        !store.discard_upload(a.id).await.expect("discard"),
        "a complete file is not discarded"
    );

    let deleted = store
        .delete_attachment(a.id, &removal(AttachmentEventKind::Deleted))
        .await
        .expect("delete_attachment");
    assert_eq!(deleted, a);
    assert!(is_not_found(&store.get_attachment(a.id).await));
    assert!(is_not_found(
        &store
            .delete_attachment(a.id, &removal(AttachmentEventKind::Deleted))
            .await
    ));
    let events = store.attachment_events(ticket.id).await.expect("events");
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.actor.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (AttachmentEventKind::Uploaded, "agent-0001"),
            (AttachmentEventKind::Deleted, "admin-1")
        ]
    );
    assert_eq!(events[0].time, t0() + micros(20));
    assert_eq!(events[1].file_name, "现场照片.pdf");
    assert_eq!(events[1].sha256, a.sha256);

    let unknown = attachment(TicketId::generate(t0()), 30, "x.pdf");
    assert!(is_not_found(&store.begin_attachment(&unknown).await));
}

/// A ticket's files list in upload order, page by page, without the
/// uploads still running or other tickets' files.
pub async fn attachments_list_in_upload_order_and_page(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (ticket, _) = create_at(store, full_intake(), t0(), None).await;
    let (other, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    let mut complete = Vec::new();
    for n in 0..5 {
        let a = attachment(ticket.id, 1000 * (n + 1), &format!("f{n}.pdf"));
        store.begin_attachment(&a).await.expect("begin");
        if n != 2 {
            complete.push(
                store
                    .complete_attachment(a.id, t0())
                    .await
                    .expect("complete")
                    .id,
            );
        }
    }
    let foreign = attachment(other.id, 500, "other.pdf");
    store.begin_attachment(&foreign).await.expect("begin");
    store
        .complete_attachment(foreign.id, t0())
        .await
        .expect("complete");

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_attachments(ticket.id, after, 3)
            .await
            .expect("list");
        seen.extend(page.iter().map(|a| a.id));
        match page.last() {
            Some(last) if page.len() == 3 => after = Some(last.id),
            _ => break,
        }
    }
    assert_eq!(seen, complete);
}

/// The sweep finds uploads begun before the cut-off, oldest first, and
/// discards only them; the retention finds complete files of tickets
/// closed before its cut-off only.
pub async fn stale_uploads_and_expired_files_are_found(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (open, _) = create_at(store, full_intake(), t0(), None).await;
    let (closed, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    let answer = Action::ResolveAtIntake {
        answer: "已告知办理流程".into(),
        article_ids: Vec::new(),
    };
    let close_time = t0() + micros(50);
    step(store, &closed, answer, &agent(), close_time).await;

    let old = attachment(open.id, 10, "old.pdf");
    let newer = attachment(open.id, 20, "newer.pdf");
    let fresh = attachment(open.id, 5_000, "fresh.pdf");
    for a in [&fresh, &newer, &old] {
        store.begin_attachment(a).await.expect("begin");
    }
    let stale = store
        .stale_uploads(t0() + micros(1000), 10)
        .await
        .expect("stale_uploads");
    let ids: Vec<_> = stale.iter().map(|a| a.id).collect();
    assert_eq!(ids, [old.id, newer.id], "oldest first, fresh ones left");
    assert!(store.discard_upload(old.id).await.expect("discard"));
    assert!(!store.discard_upload(old.id).await.expect("discard twice"));
    assert_eq!(
        store
            .stale_uploads(t0() + micros(1000), 10)
            .await
            .expect("stale")
            .len(),
        1
    );

    let kept = attachment(closed.id, 60, "closed.pdf");
    store.begin_attachment(&kept).await.expect("begin");
    store
        .complete_attachment(kept.id, t0())
        .await
        .expect("complete");
    let on_open = store
        .complete_attachment(newer.id, t0())
        .await
        .expect("complete");
    let expired = |cutoff| async move {
        store
            .expired_attachments(cutoff, 10)
            .await
            .expect("expired_attachments")
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        expired(close_time).await,
        [],
        "closed at, not before, the cut-off"
    );
    let later = close_time + TimeDelta::days(1);
    assert_eq!(
        expired(later).await,
        [kept.id],
        "the open ticket's file stays"
    );
    assert_ne!(on_open.ticket, closed.id);
    store
        .delete_attachment(kept.id, &removal(AttachmentEventKind::Expired))
        .await
        .expect("delete");
    assert_eq!(expired(later).await, []);
    let events = store.attachment_events(closed.id).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [AttachmentEventKind::Uploaded, AttachmentEventKind::Expired]
    );
}
