//! Attachments (附件) of tickets: photos, scans and documents the caller or
//! a unit supplies. The bytes live in object storage; here are the rules
//! every upload and read obeys, pure so they are tested without a server:
//! what an upload must declare ([`UploadDeclaration::validate`]), whether
//! the bytes received match it ([`check_content`]), and who may see a file
//! ([`Principal::can_see_attachment`]).

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{DomainError, Principal, TicketId, ids::uuid_v7_at, text_enum, ticket::Ticket};

/// Longest file name kept, in bytes (the common file-system limit).
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// Id of an attachment: a UUIDv7, so a ticket's files list in upload order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttachmentId(Uuid);

impl AttachmentId {
    /// A fresh id for a file uploaded at `now` (the injected time).
    pub fn generate(now: DateTime<Utc>) -> Self {
        Self(uuid_v7_at(now))
    }

    /// Parses a bare id.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| DomainError::invalid("", "not an attachment id (UUID)"))
    }
}

impl fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The resource name `tickets/{ticket}/attachments/{attachment}` (AIP-122:
/// attachments are children of their ticket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentName {
    /// The ticket.
    pub ticket: TicketId,
    /// The attachment.
    pub id: AttachmentId,
}

impl AttachmentName {
    /// Parses `tickets/{ticket}/attachments/{attachment}`.
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::invalid("", "must look like tickets/{id}/attachments/{id}");
        let rest = name.strip_prefix("tickets/").ok_or_else(bad)?;
        let (ticket, id) = rest.split_once("/attachments/").ok_or_else(bad)?;
        Ok(Self {
            ticket: TicketId::parse(ticket).map_err(|_| bad())?,
            id: AttachmentId::parse(id).map_err(|_| bad())?,
        })
    }

    /// The resource name.
    pub fn name(&self) -> String {
        format!("tickets/{}/attachments/{}", self.ticket, self.id)
    }
}

text_enum! {
    /// Where an attachment is in its upload.
    pub enum AttachmentState {
        /// The row exists, the bytes are on their way (or were abandoned:
        /// the cleanup sweep removes such rows after a grace period).
        Uploading => "uploading",
        /// Stored and checked; readable.
        Complete => "complete",
    }
}

text_enum! {
    /// What happened to an attachment, in its audit trail.
    pub enum AttachmentEventKind {
        /// Upload completed and checked.
        Uploaded => "uploaded",
        /// Deleted by the centre.
        Deleted => "deleted",
        /// Deleted by the retention policy (the ticket closed long ago).
        Expired => "expired",
    }
}

/// One entry of an attachment's audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentEvent {
    /// The attachment.
    pub attachment: AttachmentId,
    /// Its ticket.
    pub ticket: TicketId,
    /// What happened.
    pub kind: AttachmentEventKind,
    /// Who did it (token subject, or `system:…`).
    pub actor: String,
    /// The role they acted in.
    pub actor_role: String,
    /// The file's name then.
    pub file_name: String,
    /// The file's digest.
    pub sha256: String,
    /// When.
    pub time: DateTime<Utc>,
}

/// An attachment's metadata (the bytes are in object storage under
/// [`Attachment::object_key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Id.
    pub id: AttachmentId,
    /// The ticket it belongs to.
    pub ticket: TicketId,
    /// Upload state.
    pub state: AttachmentState,
    /// The file name the uploader gave.
    pub file_name: String,
    /// MIME type, declared and confirmed by sniffing.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Whether handling units may see it on a confidential ticket.
    pub shared_with_units: bool,
    /// The object store's multipart upload id while uploading (S3), so a
    /// sweep can abort an upload its server abandoned.
    pub upload_id: Option<String>,
    /// Who uploaded it (token subject).
    pub uploader: String,
    /// The role they acted in.
    pub uploader_role: String,
    /// When the upload started.
    pub create_time: DateTime<Utc>,
}

impl Attachment {
    /// The resource name.
    pub fn name(&self) -> String {
        AttachmentName {
            ticket: self.ticket,
            id: self.id,
        }
        .name()
    }

    /// The object's key: derived from the ids, so a row always names its
    /// object and no object is written without a row naming it first.
    pub fn object_key(&self) -> String {
        object_key(self.ticket, self.id)
    }
}

/// The object key of an attachment: `attachments/{ticket}/{attachment}`.
pub fn object_key(ticket: TicketId, id: AttachmentId) -> String {
    format!("attachments/{ticket}/{id}")
}

/// The limits uploads are held to (configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// MIME types accepted, lowercase.
    pub allowed_types: Vec<String>,
}

/// What an upload announces before its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadDeclaration {
    /// File name.
    pub file_name: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// SHA-256, hex.
    pub sha256: String,
}

impl UploadDeclaration {
    /// Checks the declaration against the limits before any byte is
    /// accepted, normalising the type and digest to lowercase. Field paths
    /// are the upload metadata's.
    pub fn validate(mut self, limits: &UploadLimits) -> Result<Self, DomainError> {
        self.file_name = valid_file_name(&self.file_name)?;
        self.content_type = self.content_type.trim().to_ascii_lowercase();
        if self.content_type.is_empty() {
            return Err(DomainError::invalid("content_type", "required"));
        }
        if !limits.allowed_types.contains(&self.content_type) {
            return Err(DomainError::invalid(
                "content_type",
                format!(
                    "{} is not accepted; accepted types: {}",
                    self.content_type,
                    limits.allowed_types.join(", ")
                ),
            ));
        }
        let max = i64::try_from(limits.max_bytes).unwrap_or(i64::MAX);
        if self.size_bytes <= 0 {
            return Err(DomainError::invalid("size_bytes", "must be positive"));
        }
        if self.size_bytes > max {
            return Err(DomainError::invalid(
                "size_bytes",
                format!("{} bytes exceeds the limit of {max} bytes", self.size_bytes),
            ));
        }
        self.sha256 = self.sha256.trim().to_ascii_lowercase();
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DomainError::invalid(
                "sha256",
                "must be the SHA-256 of the file as 64 hex digits",
            ));
        }
        Ok(self)
    }
}

/// A file name as kept: trimmed, at most [`MAX_FILE_NAME_BYTES`], no path
/// separators or control characters (it is shown to people and offered
/// back as a download name, never used as a path).
fn valid_file_name(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    let bad = |why: &str| Err(DomainError::invalid("file_name", why));
    if name.is_empty() {
        return bad("required");
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return bad("longer than 255 bytes");
    }
    if name == "." || name == ".." {
        return bad("not a file name");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return bad("must not contain '/', '\\' or control characters");
    }
    Ok(name.to_owned())
}

/// Whether the bytes received are what was declared: the size and digest
/// must match exactly, and the type sniffed from the content must be the
/// declared one. Content no signature recognises passes only as a
/// `text/*` type (plain text has no magic number).
pub fn check_content(
    declared: &UploadDeclaration,
    received_bytes: i64,
    sha256_hex: &str,
    sniffed_type: Option<&str>,
) -> Result<(), DomainError> {
    if received_bytes != declared.size_bytes {
        return Err(DomainError::invalid(
            "size_bytes",
            format!(
                "declared {} bytes, received {received_bytes}",
                declared.size_bytes
            ),
        ));
    }
    if sha256_hex != declared.sha256 {
        return Err(DomainError::invalid(
            "sha256",
            format!(
                "the received bytes hash to {sha256_hex}, not the declared {}: the upload is corrupt",
                declared.sha256
            ),
        ));
    }
    match sniffed_type {
        Some(found) if found != declared.content_type => Err(DomainError::invalid(
            "content_type",
            format!(
                "declared {}, but the content is {found}",
                declared.content_type
            ),
        )),
        Some(_) => Ok(()),
        None if declared.content_type.starts_with("text/") => Ok(()),
        None => Err(DomainError::invalid(
            "content_type",
            format!(
                "declared {}, but the content has no recognisable signature of it",
                declared.content_type
            ),
        )),
    }
}

impl Principal {
    /// Whether the principal may see an attachment of `ticket`: the
    /// ticket's own scope (see [`Principal::can_see`]), and on a
    /// confidential ticket only the centre's staff, unless the file was
    /// shared with the units (DOMAIN.md §7: the report's evidence may
    /// identify the caller).
    pub fn can_see_attachment(&self, ticket: &Ticket, shared_with_units: bool) -> bool {
        self.can_see(ticket)
            && (!ticket.intake.confidential || shared_with_units || self.is_centre_staff())
    }

    /// Whether a file this principal uploads is shared with the units: as
    /// asked when the centre uploads; always when a unit does (its own
    /// file is no secret from it).
    pub fn shares_upload(&self, asked: bool) -> bool {
        asked || !self.is_centre_staff()
    }
}

#[cfg(test)]
#[path = "attachment/tests.rs"]
mod tests;
