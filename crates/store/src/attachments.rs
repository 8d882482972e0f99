//! Attachments' metadata and their audit trail. The bytes are not here:
//! they live in object storage (the server's `attachments` module), under
//! the key each row names ([`Attachment::object_key`]).
//!
//! The order of writes keeps the two in step without a distributed
//! transaction: a row is inserted `uploading` before any byte is written;
//! it becomes `complete` (with its audit event) only after the object is
//! stored; a file is deleted from object storage before its row is. So
//! every object has a row naming it, and a row left `uploading` is the only
//! trace of an abandoned upload: the cleanup sweep finds it
//! ([`AttachmentStore::stale_uploads`]), removes its bytes and then the row.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use hotline_domain::{
    TicketId,
    attachment::{Attachment, AttachmentEvent, AttachmentEventKind, AttachmentId},
};

/// Who removes a file and why, for its audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRemoval {
    /// [`AttachmentEventKind::Deleted`] or [`AttachmentEventKind::Expired`].
    pub kind: AttachmentEventKind,
    /// Who (token subject, or `system:…`).
    pub actor: String,
    /// The role they acted in.
    pub actor_role: String,
    /// When.
    pub time: DateTime<Utc>,
}

/// Attachments of tickets.
#[async_trait]
pub trait AttachmentStore: Send + Sync + Debug {
    /// Inserts an attachment in state `uploading`, before its bytes are
    /// written; `NotFound` if the ticket does not exist.
    async fn begin_attachment(&self, attachment: &Attachment) -> StoreResult<()>;

    /// Records the object store's multipart upload id of an uploading
    /// attachment (so the sweep can abort it); `NotFound` if the
    /// attachment is not uploading.
    async fn record_upload_id(&self, id: AttachmentId, upload_id: &str) -> StoreResult<()>;

    /// Marks an uploading attachment complete and writes its `uploaded`
    /// event, in one transaction; returns it. `NotFound` if it is not
    /// uploading (never begun, or swept meanwhile).
    async fn complete_attachment(
        &self,
        id: AttachmentId,
        now: DateTime<Utc>,
    ) -> StoreResult<Attachment>;

    /// A complete attachment; `NotFound` for one still uploading.
    async fn get_attachment(&self, id: AttachmentId) -> StoreResult<Attachment>;

    /// A ticket's complete attachments in upload order, after `after`.
    async fn list_attachments(
        &self,
        ticket: TicketId,
        after: Option<AttachmentId>,
        limit: u32,
    ) -> StoreResult<Vec<Attachment>>;

    /// Deletes a complete attachment's row and writes its removal event, in
    /// one transaction; returns what was deleted. Called after its bytes
    /// are gone. `NotFound` if there is no complete attachment.
    async fn delete_attachment(
        &self,
        id: AttachmentId,
        removal: &AttachmentRemoval,
    ) -> StoreResult<Attachment>;

    /// Attachments still uploading that began before `before`, oldest
    /// first: abandoned uploads for the cleanup sweep.
    async fn stale_uploads(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Attachment>>;

    /// Deletes an attachment's row if it is still uploading (no event: it
    /// never held a file); `false` if there was none.
    async fn discard_upload(&self, id: AttachmentId) -> StoreResult<bool>;

    /// Complete attachments of tickets in a terminal state whose last
    /// change (their closing) is before `closed_before`: past retention.
    async fn expired_attachments(
        &self,
        closed_before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Attachment>>;

    /// A ticket's attachment audit trail, oldest first.
    async fn attachment_events(&self, ticket: TicketId) -> StoreResult<Vec<AttachmentEvent>>;
}
