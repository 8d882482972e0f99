//! The attachment use cases: upload (checked as it streams), read, list,
//! download, delete, and the upkeep that removes abandoned uploads and
//! files past retention.
//!
//! Scope is the ticket's: every call first loads the ticket through
//! [`Workflow::load_visible`], the check `GetTicket` makes, then applies
//! the one rule files add ([`Principal::can_see_attachment`]). A file
//! outside the reader's sight is NOT_FOUND, like a ticket outside it.
//!
//! The order of writes (see `hotline_store::AttachmentStore`): row
//! `uploading`, bytes, row `complete`; on delete, bytes, then row.

use std::{future::Future, sync::Arc};

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{StreamExt, stream::BoxStream};
use sha2::{Digest, Sha256};

use super::{ServiceError, Workflow};
use crate::{
    blobs::{BlobError, BlobWriter, Blobs, rechunk},
    config::AttachmentSettings,
    domain::{
        Principal, TicketId,
        access::Operation,
        attachment::{
            Attachment, AttachmentEventKind, AttachmentId, AttachmentName, AttachmentState,
            UploadDeclaration, UploadLimits, check_content,
        },
    },
    store::AttachmentRemoval,
};

/// Bytes kept from the start of an upload for content sniffing (`infer`
/// reads signatures within the first few kilobytes).
const SNIFF_BYTES: usize = 8192;

/// Rows the sweep and the retention handle per query.
const UPKEEP_BATCH: u32 = 100;

/// The attachment use cases over the shared workflow and the object store.
#[derive(Debug, Clone)]
pub struct Attachments {
    workflow: Arc<Workflow>,
    blobs: Blobs,
    limits: UploadLimits,
    chunk_bytes: usize,
    grace: TimeDelta,
}

/// An upload as its first message announces it.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The ticket.
    pub ticket: TicketId,
    /// What is declared.
    pub declaration: UploadDeclaration,
    /// Share with the units of a confidential ticket.
    pub shared_with_units: bool,
}

/// A storage failure as the client sees it: the storage is unavailable,
/// retry; the detail is logged.
fn storage(err: BlobError) -> ServiceError {
    tracing::warn!(error = %err, "attachment storage call failed");
    ServiceError::Unavailable
}

impl Attachments {
    /// The use cases with the configured limits.
    pub fn new(workflow: Arc<Workflow>, blobs: Blobs, settings: &AttachmentSettings) -> Self {
        Self {
            workflow,
            blobs,
            limits: settings.limits(),
            chunk_bytes: settings.chunk_bytes,
            grace: TimeDelta::seconds(
                i64::try_from(settings.upload_grace_secs).unwrap_or(i64::MAX / 1_000_000),
            ),
        }
    }

    /// The object store (tests look at it directly).
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// Checks who may upload what, records the upload as begun and opens
    /// the object; the returned upload takes the bytes.
    pub async fn begin_upload(
        &self,
        principal: &Principal,
        new: NewUpload,
    ) -> Result<Upload, ServiceError> {
        principal.authorize(Operation::UploadAttachment)?;
        let ticket = self.workflow.load_visible(principal, new.ticket).await?;
        let declaration = new
            .declaration
            .validate(&self.limits)
            .map_err(|e| e.within("metadata"))?;
        let now = self.workflow.clock().now();
        let attachment = Attachment {
            id: AttachmentId::generate(now),
            ticket: ticket.id,
            state: AttachmentState::Uploading,
            file_name: declaration.file_name.clone(),
            content_type: declaration.content_type.clone(),
            size_bytes: declaration.size_bytes,
            sha256: declaration.sha256.clone(),
            shared_with_units: principal.shares_upload(new.shared_with_units),
            upload_id: None,
            uploader: principal.subject.clone(),
            uploader_role: principal.role_label().to_owned(),
            create_time: now,
        };
        let store = self.workflow.store();
        store.begin_attachment(&attachment).await?;
        // From here the row is the upload's: dropping it discards the row.
        let mut upload = Upload {
            attachments: self.clone(),
            declaration,
            writer: None,
            settled: false,
            hasher: Sha256::new(),
            received: 0,
            head: Vec::new(),
            attachment: attachment.clone(),
        };
        match self.blobs.start(&attachment.object_key()).await {
            Ok(writer) => upload.writer = Some(writer),
            Err(e) => {
                upload.abort().await;
                return Err(storage(e));
            }
        }
        if let Some(id) = upload.writer.as_ref().and_then(BlobWriter::upload_id) {
            let id = id.to_owned();
            if let Err(e) = store.record_upload_id(attachment.id, &id).await {
                upload.abort().await;
                return Err(e.into());
            }
        }
        Ok(upload)
    }

    async fn discard_row(&self, id: AttachmentId) {
        if let Err(e) = self.workflow.store().discard_upload(id).await {
            // The sweep removes it after the grace period.
            tracing::warn!(error = %e.report(), attachment = %id, "could not discard an upload's row");
        }
    }

    /// A file the principal may see; NOT_FOUND otherwise.
    pub async fn get(
        &self,
        principal: &Principal,
        name: AttachmentName,
    ) -> Result<Attachment, ServiceError> {
        principal.authorize(Operation::ReadTickets)?;
        let ticket = self.workflow.load_visible(principal, name.ticket).await?;
        let not_found = || ServiceError::NotFound(name.name());
        let attachment = match self.workflow.store().get_attachment(name.id).await {
            Ok(a) => a,
            Err(crate::store::StoreError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        if attachment.ticket != name.ticket
            || !principal.can_see_attachment(&ticket, attachment.shared_with_units)
        {
            return Err(not_found());
        }
        Ok(attachment)
    }

    /// A page of a ticket's files the principal may see, and the last file
    /// read (visible or not) when the page was full: where the next page
    /// starts.
    pub async fn list(
        &self,
        principal: &Principal,
        ticket: TicketId,
        after: Option<AttachmentId>,
        limit: u32,
    ) -> Result<(Vec<Attachment>, Option<AttachmentId>), ServiceError> {
        principal.authorize(Operation::ReadTickets)?;
        let ticket = self.workflow.load_visible(principal, ticket).await?;
        let page = self
            .workflow
            .store()
            .list_attachments(ticket.id, after, limit)
            .await?;
        let next = (page.len() == limit as usize)
            .then(|| page.last().map(|a| a.id))
            .flatten();
        let visible = page
            .into_iter()
            .filter(|a| principal.can_see_attachment(&ticket, a.shared_with_units))
            .collect();
        Ok((visible, next))
    }

    /// A file's metadata and its bytes in chunks of the configured size.
    pub async fn download(
        &self,
        principal: &Principal,
        name: AttachmentName,
    ) -> Result<(Attachment, BoxStream<'static, Result<Bytes, ServiceError>>), ServiceError> {
        let attachment = self.get(principal, name).await?;
        let key = attachment.object_key();
        let bytes = match self.blobs.read(&key).await {
            Ok(bytes) => bytes,
            Err(BlobError::NotFound { .. }) => {
                return Err(ServiceError::Internal(format!(
                    "attachment {} has a row but no object {key}",
                    attachment.id
                )));
            }
            Err(e) => return Err(storage(e)),
        };
        let chunks = rechunk(bytes, self.chunk_bytes)
            .map(|chunk| chunk.map_err(storage))
            .boxed();
        Ok((attachment, chunks))
    }

    /// Deletes a file (the centre's decision): its bytes, then its row with
    /// the audit event.
    pub async fn delete(
        &self,
        principal: &Principal,
        name: AttachmentName,
    ) -> Result<Attachment, ServiceError> {
        principal.authorize(Operation::DeleteAttachment)?;
        let attachment = self.get(principal, name).await?;
        let removal = AttachmentRemoval {
            kind: AttachmentEventKind::Deleted,
            actor: principal.subject.clone(),
            actor_role: principal.role_label().to_owned(),
            time: self.workflow.clock().now(),
        };
        self.remove(&attachment, &removal).await
    }

    async fn remove(
        &self,
        attachment: &Attachment,
        removal: &AttachmentRemoval,
    ) -> Result<Attachment, ServiceError> {
        self.blobs
            .delete(&attachment.object_key())
            .await
            .map_err(storage)?;
        Ok(self
            .workflow
            .store()
            .delete_attachment(attachment.id, removal)
            .await?)
    }

    /// Removes uploads begun more than the grace period before `now` and
    /// never completed: their multipart upload or staging file, any object,
    /// then the row. Returns how many went.
    pub async fn sweep_abandoned(&self, now: DateTime<Utc>) -> Result<u64, ServiceError> {
        let store = self.workflow.store();
        let mut removed = 0;
        loop {
            let stale = store.stale_uploads(now - self.grace, UPKEEP_BATCH).await?;
            let full = stale.len() == UPKEEP_BATCH as usize;
            for upload in stale {
                self.blobs
                    .abandon(&upload.object_key(), upload.upload_id.as_deref())
                    .await
                    .map_err(storage)?;
                if store.discard_upload(upload.id).await? {
                    removed += 1;
                }
            }
            if !full {
                return Ok(removed);
            }
        }
    }

    /// Deletes the files of tickets closed more than `days` before `now`
    /// (none when `days` is 0), each with its `expired` event. Returns how
    /// many went.
    pub async fn purge_expired(&self, now: DateTime<Utc>, days: u32) -> Result<u64, ServiceError> {
        if days == 0 {
            return Ok(0);
        }
        let system = Principal::system("attachment-retention");
        let removal = AttachmentRemoval {
            kind: AttachmentEventKind::Expired,
            actor: system.subject.clone(),
            actor_role: system.role_label().to_owned(),
            time: now,
        };
        let cutoff = now - TimeDelta::days(i64::from(days));
        let mut removed = 0;
        loop {
            let expired = self
                .workflow
                .store()
                .expired_attachments(cutoff, UPKEEP_BATCH)
                .await?;
            let full = expired.len() == UPKEEP_BATCH as usize;
            for attachment in expired {
                match self.remove(&attachment, &removal).await {
                    Ok(_) => removed += 1,
                    // Another replica's purge took it first.
                    Err(ServiceError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            if !full {
                return Ok(removed);
            }
        }
    }
}

/// An upload under way: hashes and sniffs the bytes as they pass on to
/// the object store. Finish it, or abort it; one dropped without either
/// (its RPC cancelled: hyper drops the handler when the client resets the
/// stream) aborts itself in the background, and what that misses (the
/// process died) is the sweep's.
#[derive(Debug)]
pub struct Upload {
    attachments: Attachments,
    attachment: Attachment,
    declaration: UploadDeclaration,
    writer: Option<BlobWriter>,
    /// Finished or aborted: nothing left for `Drop` to clean.
    settled: bool,
    hasher: Sha256,
    received: i64,
    /// The first [`SNIFF_BYTES`], for content sniffing.
    head: Vec<u8>,
}

impl Upload {
    /// Takes the next bytes; more than the declared size is refused.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), ServiceError> {
        let len = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
        if self.received.saturating_add(len) > self.declaration.size_bytes {
            return Err(ServiceError::invalid(
                "chunk",
                format!(
                    "more bytes than the declared size_bytes ({})",
                    self.declaration.size_bytes
                ),
            ));
        }
        self.received += len;
        self.hasher.update(&chunk);
        if self.head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| ServiceError::Internal("upload written after its end".into()))?;
        writer.write(chunk).await.map_err(storage)
    }

    /// Checks the bytes against the declaration, then publishes the object
    /// and marks the file complete. On any failure nothing is kept. The
    /// steps after the check run to their end even if the RPC is cancelled
    /// meanwhile (a task of their own): stopped between the object and the
    /// row, they would leave the object to the sweep.
    pub async fn finish(mut self) -> Result<Attachment, ServiceError> {
        let digest = hex(&std::mem::take(&mut self.hasher).finalize());
        let sniffed = infer::get(&self.head).map(|t| t.mime_type());
        if let Err(e) = check_content(&self.declaration, self.received, &digest, sniffed) {
            self.abort().await;
            return Err(e.within("metadata").into());
        }
        self.settled = true;
        let Some(writer) = self.writer.take() else {
            return Err(ServiceError::Internal("upload finished twice".into()));
        };
        let attachments = self.attachments.clone();
        let attachment = self.attachment.clone();
        tokio::spawn(complete(attachments, attachment, writer))
            .await
            .map_err(|e| ServiceError::Internal(format!("upload completion failed: {e}")))?
    }

    /// Discards the upload: its bytes, then its row, in a task of its own
    /// so a cancelled RPC still finishes it. Failures are logged; what
    /// stays is the sweep's.
    pub async fn abort(mut self) {
        self.settled = true;
        let cleanup = self.cleanup();
        let _ = tokio::spawn(cleanup).await;
    }

    /// The work of [`Upload::abort`], detached from `self`.
    fn cleanup(&mut self) -> impl Future<Output = ()> + Send + 'static {
        let writer = self.writer.take();
        let attachments = self.attachments.clone();
        let id = self.attachment.id;
        async move {
            if let Some(writer) = writer
                && let Err(e) = writer.abort().await
            {
                tracing::warn!(error = %e, attachment = %id, "could not abort an upload");
                return;
            }
            attachments.discard_row(id).await;
        }
    }
}

/// Publishes an upload's object and marks its row complete; if the row
/// cannot be, removes the object again (it would be an orphan).
///
/// A failed publication may have left parts (an open S3 multipart upload,
/// a local staging file) or, if only the answer was lost, the object
/// itself: all are removed before the row goes. If they cannot be, the row
/// stays `uploading`, so the abandoned-upload sweep finds the upload by it
/// and removes them later; without the row nothing would.
async fn complete(
    attachments: Attachments,
    attachment: Attachment,
    writer: BlobWriter,
) -> Result<Attachment, ServiceError> {
    let upload_id = writer.upload_id().map(str::to_owned);
    if let Err(e) = writer.finish().await {
        let key = attachment.object_key();
        match attachments.blobs.abandon(&key, upload_id.as_deref()).await {
            Ok(()) => attachments.discard_row(attachment.id).await,
            Err(left) => {
                tracing::warn!(error = %left, key, "could not remove a failed upload; the sweep will");
            }
        }
        return Err(storage(e));
    }
    let now = attachments.workflow.clock().now();
    match attachments
        .workflow
        .store()
        .complete_attachment(attachment.id, now)
        .await
    {
        Ok(done) => Ok(done),
        Err(e) => {
            let key = attachment.object_key();
            if let Err(blob) = attachments.blobs.delete(&key).await {
                tracing::warn!(error = %blob, key, "could not remove an uncommitted upload");
            } else {
                attachments.discard_row(attachment.id).await;
            }
            Err(e.into())
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.cleanup());
        }
    }
}

/// Lowercase hex of a digest.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
