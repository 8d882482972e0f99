//! The attachment client of the tests: building uploads, streaming them,
//! reading files back, and looking at what the server left behind.

use std::time::Duration;

use chrono::TimeDelta;
use hotline::{
    domain::{
        TicketId,
        attachment::{Attachment, AttachmentEvent, AttachmentId, AttachmentState},
    },
    proto::v1::{
        self as pb, attachment_service_client::AttachmentServiceClient,
        download_attachment_response, upload_attachment_request,
    },
};
use sha2::{Digest, Sha256};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::helpers::{As, TestApp, authed};

/// A PNG as `infer` recognises it (the signature and an IHDR header),
/// padded to `len` bytes.
pub(crate) fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend((0..len.saturating_sub(bytes.len())).map(|i| (i % 251) as u8));
    bytes
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The metadata message of an upload of `bytes` as `content_type`.
pub(crate) fn metadata(ticket: &str, bytes: &[u8], content_type: &str) -> pb::AttachmentUpload {
    pb::AttachmentUpload {
        parent: ticket.into(),
        file_name: "现场照片.png".into(),
        content_type: content_type.into(),
        size_bytes: bytes.len() as i64,
        sha256: sha256_hex(bytes),
        shared_with_units: false,
    }
}

pub(crate) fn meta_message(meta: pb::AttachmentUpload) -> pb::UploadAttachmentRequest {
    pb::UploadAttachmentRequest {
        payload: Some(upload_attachment_request::Payload::Metadata(meta)),
    }
}

pub(crate) fn chunk_message(bytes: &[u8]) -> pb::UploadAttachmentRequest {
    pb::UploadAttachmentRequest {
        payload: Some(upload_attachment_request::Payload::Chunk(bytes.to_vec())),
    }
}

/// An attachment client acting as `who`.
pub(crate) fn client(who: &As) -> AttachmentServiceClient<tonic::transport::Channel> {
    AttachmentServiceClient::new(who.channel())
}

/// Uploads `meta` then `bytes` in chunks of `chunk` bytes.
pub(crate) async fn upload(
    who: &As,
    meta: pb::AttachmentUpload,
    bytes: &[u8],
    chunk: usize,
) -> Result<pb::Attachment, tonic::Status> {
    let mut messages = vec![meta_message(meta)];
    messages.extend(bytes.chunks(chunk).map(chunk_message));
    client(who)
        .upload_attachment(authed(&who.token, tokio_stream::iter(messages)))
        .await
        .map(|r| r.into_inner().attachment.unwrap())
}

/// Uploads `bytes` to `ticket` as the PNG `metadata` describes, in chunks
/// of `chunk` bytes: the upload most tests make.
pub(crate) async fn upload_png(
    who: &As,
    ticket: &str,
    bytes: &[u8],
    chunk: usize,
) -> Result<pb::Attachment, tonic::Status> {
    upload(who, metadata(ticket, bytes, "image/png"), bytes, chunk).await
}

/// The call of an upload the client has not finished: the stream stays
/// open while the sender lives.
pub(crate) type UnfinishedUpload = (
    mpsc::Sender<pb::UploadAttachmentRequest>,
    JoinHandle<Result<tonic::Response<pb::UploadAttachmentResponse>, tonic::Status>>,
);

/// Starts an upload of `messages` that the client does not finish: the
/// tests cut it (abort the call, drop the sender) to play a client that
/// goes away midway.
pub(crate) async fn unfinished_upload(
    who: &As,
    messages: Vec<pb::UploadAttachmentRequest>,
) -> UnfinishedUpload {
    // Room for every message, so they are all queued before the call starts.
    let (tx, rx) = mpsc::channel(messages.len() + 1);
    for message in messages {
        tx.send(message).await.unwrap();
    }
    let mut uploader = client(who);
    let token = who.token.clone();
    let call = tokio::spawn(async move {
        uploader
            .upload_attachment(authed(
                &token,
                tokio_stream::wrappers::ReceiverStream::new(rx),
            ))
            .await
    });
    (tx, call)
}

/// The row of an upload still under way, as a server that died midway
/// leaves it: `agent-alice`'s `crash.png`.
pub(crate) fn abandoned_upload(
    ticket: TicketId,
    id: AttachmentId,
    create_time: chrono::DateTime<chrono::Utc>,
    size_bytes: i64,
    upload_id: Option<String>,
) -> Attachment {
    Attachment {
        id,
        ticket,
        state: AttachmentState::Uploading,
        file_name: "crash.png".into(),
        content_type: "image/png".into(),
        size_bytes,
        sha256: "00".repeat(32),
        shared_with_units: false,
        upload_id,
        uploader: "agent-alice".into(),
        uploader_role: "agent".into(),
        create_time,
    }
}

/// Downloads a file: its metadata and its bytes.
pub(crate) async fn download(
    who: &As,
    name: &str,
) -> Result<(pb::Attachment, Vec<u8>), tonic::Status> {
    let mut stream = client(who)
        .download_attachment(authed(
            &who.token,
            pb::DownloadAttachmentRequest { name: name.into() },
        ))
        .await?
        .into_inner();
    let mut meta = None;
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await? {
        match message.payload.unwrap() {
            download_attachment_response::Payload::Attachment(a) => {
                assert!(
                    meta.is_none() && bytes.is_empty(),
                    "metadata comes first, once"
                );
                meta = Some(a);
            }
            download_attachment_response::Payload::Chunk(c) => bytes.extend(c),
        }
    }
    Ok((meta.expect("a metadata message"), bytes))
}

pub(crate) async fn list(who: &As, ticket: &str) -> Result<Vec<String>, tonic::Status> {
    let page = client(who)
        .list_attachments(authed(
            &who.token,
            pb::ListAttachmentsRequest {
                parent: ticket.into(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    Ok(page.attachments.into_iter().map(|a| a.name).collect())
}

pub(crate) async fn get(who: &As, name: &str) -> Result<pb::Attachment, tonic::Status> {
    client(who)
        .get_attachment(authed(
            &who.token,
            pb::GetAttachmentRequest { name: name.into() },
        ))
        .await
        .map(|r| r.into_inner().attachment.unwrap())
}

pub(crate) async fn delete(who: &As, name: &str) -> Result<(), tonic::Status> {
    client(who)
        .delete_attachment(authed(
            &who.token,
            pb::DeleteAttachmentRequest { name: name.into() },
        ))
        .await
        .map(|_| ())
}

/// Every file under a directory, recursively (objects and staging files).
pub(crate) fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Uploads still recorded as under way, at any age.
pub(crate) async fn uploads_in_flight(app: &TestApp) -> Vec<Attachment> {
    let far = app.clock_now() + TimeDelta::days(10_000);
    app.store.stale_uploads(far, 100).await.unwrap()
}

/// Polls `done` every 100 ms for up to 15 s.
pub(crate) async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..150 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

impl TestApp {
    pub(crate) fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use hotline::domain::Clock;
        self.clock.now()
    }
}

pub(crate) fn ticket_of(name: &str) -> TicketId {
    TicketId::from_name(name).unwrap()
}

/// The attachment audit trail of the ticket called `name`.
pub(crate) async fn attachment_events(app: &TestApp, name: &str) -> Vec<AttachmentEvent> {
    app.store.attachment_events(ticket_of(name)).await.unwrap()
}
