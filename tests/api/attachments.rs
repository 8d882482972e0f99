//! Ticket attachments through the real gRPC client on the local directory
//! store: round trip, corrupt and refused uploads, unit scope,
//! confidential tickets, interrupted uploads and retention. The S3 path is
//! `attachments_s3.rs`.

use std::time::Duration;

use chrono::TimeDelta;
use hotline::{
    domain::attachment::{AttachmentId, object_key},
    proto::v1 as pb,
};
use tonic::Code;

use crate::attachment_client::{
    abandoned_upload, attachment_events, chunk_message, client, delete, download, eventually,
    files_under, get, list, meta_message, metadata, png, sha256_hex, ticket_of, unfinished_upload,
    upload, upload_png, uploads_in_flight,
};

use crate::helpers::{authed, complaint, error_reason, spawn_app, spawn_app_configured};

#[tokio::test]
async fn an_upload_round_trips_and_a_centre_delete_is_audited() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await;
    let bytes = png(200_000);

    let stored = upload_png(&agent, &ticket.name, &bytes, 7_000)
        .await
        .unwrap();
    assert!(
        stored
            .name
            .starts_with(&format!("{}/attachments/", ticket.name))
    );
    assert_eq!(stored.file_name, "现场照片.png");
    assert_eq!(stored.content_type, "image/png");
    assert_eq!(stored.size_bytes, 200_000);
    assert_eq!(stored.sha256, sha256_hex(&bytes));
    assert_eq!(stored.uploader, "agent-alice");
    assert!(!stored.shared_with_units);

    assert_eq!(get(&agent, &stored.name).await.unwrap(), stored);
    assert_eq!(
        list(&agent, &ticket.name).await.unwrap(),
        std::slice::from_ref(&stored.name)
    );
    let (meta, downloaded) = download(&agent, &stored.name).await.unwrap();
    assert_eq!(meta, stored);
    assert_eq!(downloaded, bytes, "the bytes come back unchanged");
    let objects = files_under(app.attachments_dir.path());
    assert_eq!(objects.len(), 1, "one object, no staging file: {objects:?}");

    let denied = delete(&app.unit_user("market-regulation"), &stored.name)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    delete(&agent, &stored.name).await.unwrap();
    assert_eq!(
        list(&agent, &ticket.name).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        get(&agent, &stored.name).await.unwrap_err().code(),
        Code::NotFound
    );
    assert!(files_under(app.attachments_dir.path()).is_empty());
    let events = attachment_events(&app, &ticket.name).await;
    let trail: Vec<_> = events
        .iter()
        .map(|e| (e.kind.to_string(), e.actor.as_str()))
        .collect();
    assert_eq!(
        trail,
        [
            ("uploaded".to_owned(), "agent-alice"),
            ("deleted".to_owned(), "agent-alice")
        ]
    );
}

#[tokio::test]
async fn a_corrupt_upload_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await;
    let bytes = png(50_000);
    let mut corrupted = bytes.clone();
    corrupted[40_000] ^= 0xff;

    let err = upload(
        &agent,
        metadata(&ticket.name, &bytes, "image/png"),
        &corrupted,
        8_192,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("corrupt"), "{}", err.message());
    assert_eq!(error_reason(&err).1, ["metadata.sha256"]);
    assert_eq!(
        list(&agent, &ticket.name).await.unwrap(),
        Vec::<String>::new()
    );
    assert!(uploads_in_flight(&app).await.is_empty(), "no row left");
    assert!(
        files_under(app.attachments_dir.path()).is_empty(),
        "no bytes left"
    );
    let events = attachment_events(&app, &ticket.name).await;
    assert!(events.is_empty(), "nothing was uploaded: {events:?}");
}

/// The field an upload refused as INVALID_ARGUMENT names.
fn invalid_field<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Vec<String> {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    error_reason(&status).1
}

#[tokio::test]
async fn size_and_type_limits_are_enforced_before_and_while_bytes_arrive() {
    let app = spawn_app_configured(|s| {
        s.attachments.max_bytes = 100_000;
        s.attachments.allowed_types = "image/png,application/pdf,text/plain".into();
    })
    .await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await;
    let meta = |bytes: &[u8], content_type: &str| metadata(&ticket.name, bytes, content_type);

    let big = png(100_001);
    let err = upload(&agent, meta(&big, "image/png"), &big, 50_000).await;
    assert_eq!(invalid_field(err), ["metadata.size_bytes"]);

    let exe = png(1_000);
    let err = upload(&agent, meta(&exe, "application/x-msdownload"), &exe, 500).await;
    assert_eq!(invalid_field(err), ["metadata.content_type"]);

    // A PNG declared as a PDF: the content says otherwise.
    let disguised = png(1_000);
    let err = upload(&agent, meta(&disguised, "application/pdf"), &disguised, 500).await;
    assert_eq!(invalid_field(err), ["metadata.content_type"]);

    // More bytes than declared are refused as they arrive.
    let declared = png(1_000);
    let longer = png(3_000);
    let err = upload(&agent, meta(&declared, "image/png"), &longer, 1_000).await;
    assert_eq!(invalid_field(err), ["chunk"]);

    // Fewer bytes than declared.
    let shorter = png(999);
    let err = upload(&agent, meta(&declared, "image/png"), &shorter, 1_000).await;
    assert_eq!(invalid_field(err), ["metadata.size_bytes"]);

    // Bytes before the metadata.
    let err = client(&agent)
        .upload_attachment(authed(
            &agent.token,
            tokio_stream::iter(vec![chunk_message(b"hello")]),
        ))
        .await;
    assert_eq!(invalid_field(err), ["metadata"]);

    // Plain text has no signature: accepted as text.
    let text = "夜间施工照片说明".as_bytes();
    let note = upload(&agent, metadata(&ticket.name, text, "text/plain"), text, 5)
        .await
        .unwrap();
    assert_eq!(note.content_type, "text/plain");

    assert_eq!(list(&agent, &ticket.name).await.unwrap(), [note.name]);
    assert!(
        uploads_in_flight(&app).await.is_empty(),
        "no row left behind"
    );
    assert_eq!(files_under(app.attachments_dir.path()).len(), 1);
}

#[tokio::test]
async fn units_see_the_files_of_the_tickets_they_handle_only() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let lead = app.unit_user("market-regulation");
    let other = app.unit_user("xihu-street");
    let ticket = agent.create(complaint()).await;
    let bytes = png(5_000);

    // Before dispatch the ticket is not the unit's.
    let err = upload_png(&lead, &ticket.name, &bytes, 1_000)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    agent
        .dispatch_to(&ticket.name, "market-regulation")
        .await
        .unwrap();
    let centre_file = upload_png(&agent, &ticket.name, &bytes, 1_000)
        .await
        .unwrap();
    // Files list in upload order (to the millisecond).
    app.clock.advance(TimeDelta::seconds(1));
    let unit_file = upload_png(&lead, &ticket.name, &bytes, 1_000)
        .await
        .unwrap();
    assert!(unit_file.shared_with_units, "a unit's own upload is shared");
    assert_eq!(unit_file.uploader, "handler-market-regulation");

    assert_eq!(
        list(&lead, &ticket.name).await.unwrap(),
        [centre_file.name.clone(), unit_file.name.clone()]
    );
    let (_, seen) = download(&lead, &centre_file.name).await.unwrap();
    assert_eq!(seen, bytes);

    assert_eq!(
        list(&other, &ticket.name).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        get(&other, &centre_file.name).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        download(&other, &centre_file.name)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    // A name under another ticket does not reach the file.
    let elsewhere = agent.create(complaint()).await;
    let id = centre_file.name.rsplit('/').next().unwrap();
    let forged = format!("{}/attachments/{id}", elsewhere.name);
    assert_eq!(
        get(&agent, &forged).await.unwrap_err().code(),
        Code::NotFound
    );
    let bad = get(&agent, "attachments/x").await.unwrap_err();
    assert_eq!(error_reason(&bad).1, ["name"]);
}

#[tokio::test]
async fn confidential_files_are_the_centres_unless_shared() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let lead = app.unit_user("market-regulation");
    let mut report = complaint();
    report.request_type = pb::RequestType::Report as i32;
    let ticket = agent.create(report).await;
    assert!(ticket.confidential);
    agent
        .dispatch_to(&ticket.name, "market-regulation")
        .await
        .unwrap();
    let bytes = png(3_000);

    let secret = upload_png(&agent, &ticket.name, &bytes, 1_000)
        .await
        .unwrap();
    app.clock.advance(TimeDelta::seconds(1));
    let mut shared_meta = metadata(&ticket.name, &bytes, "image/png");
    shared_meta.shared_with_units = true;
    let shared = upload(&agent, shared_meta, &bytes, 1_000).await.unwrap();
    assert!(shared.shared_with_units && !secret.shared_with_units);

    assert_eq!(
        list(&lead, &ticket.name).await.unwrap(),
        std::slice::from_ref(&shared.name)
    );
    assert_eq!(
        get(&lead, &secret.name).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        download(&lead, &secret.name).await.unwrap_err().code(),
        Code::NotFound
    );
    download(&lead, &shared.name).await.unwrap();
    assert_eq!(
        list(&app.supervisor("330106"), &ticket.name).await.unwrap(),
        [secret.name.clone(), shared.name.clone()],
        "the centre's staff see every file"
    );
}

#[tokio::test]
async fn an_interrupted_upload_leaves_no_row_and_no_bytes() {
    let app = spawn_app_configured(|s| {
        s.attachments.sweep_interval_secs = 1;
        s.attachments.upload_grace_secs = 60;
    })
    .await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await;
    let bytes = png(100_000);

    // The client sends the metadata and part of the bytes, then goes away.
    let (tx, call) = unfinished_upload(
        &agent,
        vec![
            meta_message(metadata(&ticket.name, &bytes, "image/png")),
            chunk_message(&bytes[..30_000]),
        ],
    )
    .await;
    eventually("the upload's bytes are arriving", || async {
        !uploads_in_flight(&app).await.is_empty()
            && !files_under(app.attachments_dir.path()).is_empty()
    })
    .await;
    call.abort();
    drop(tx);
    eventually("the cut upload is cleaned up", || async {
        uploads_in_flight(&app).await.is_empty()
            && files_under(app.attachments_dir.path()).is_empty()
    })
    .await;
    assert_eq!(
        list(&agent, &ticket.name).await.unwrap(),
        Vec::<String>::new()
    );

    // A server that died mid-upload left a row and a staging file; the
    // sweep removes both once the grace period is over.
    let now = app.clock_now();
    let id = AttachmentId::generate(now);
    let ticket_id = ticket_of(&ticket.name);
    let abandoned = abandoned_upload(ticket_id, id, now, 10, None);
    app.store.begin_attachment(&abandoned).await.unwrap();
    let staging = app
        .attachments_dir
        .path()
        .join(format!("{}#1", object_key(ticket_id, id)));
    std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
    std::fs::write(&staging, &bytes[..10]).unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        uploads_in_flight(&app).await.len(),
        1,
        "within the grace period"
    );
    assert!(staging.exists());

    app.clock.advance(TimeDelta::seconds(61));
    eventually("the sweep removes the abandoned upload", || async {
        uploads_in_flight(&app).await.is_empty() && !staging.exists()
    })
    .await;
}

#[tokio::test]
async fn files_of_tickets_closed_past_retention_are_deleted() {
    let app = spawn_app_configured(|s| {
        s.attachments.sweep_interval_secs = 1;
        s.attachments.retention_days = 30;
    })
    .await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut enquiry = complaint();
    enquiry.request_type = pb::RequestType::Enquiry as i32;
    let closed = agent.create(enquiry).await;
    let open = agent.create(complaint()).await;
    let bytes = png(4_000);
    let old = upload_png(&agent, &closed.name, &bytes, 1_000)
        .await
        .unwrap();
    let kept = upload_png(&agent, &open.name, &bytes, 1_000).await.unwrap();
    agent
        .resolve_at_intake(&closed.name, "已告知办理流程。")
        .await;

    app.clock.advance(TimeDelta::days(29));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        list(&agent, &closed.name).await.unwrap(),
        std::slice::from_ref(&old.name)
    );

    app.clock.advance(TimeDelta::days(2));
    eventually("the closed ticket's file is deleted", || async {
        list(&agent, &closed.name).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(list(&agent, &open.name).await.unwrap(), [kept.name]);
    assert_eq!(files_under(app.attachments_dir.path()).len(), 1);
    let events = attachment_events(&app, &closed.name).await;
    let last = events.last().unwrap();
    assert_eq!(last.kind.to_string(), "expired");
    assert_eq!(last.actor, "system:attachment-retention");
}
