//! Settings of ticket attachments: where the bytes are stored, what an
//! upload may be, and when files and abandoned uploads are removed
//! (docs/attachments.md).

use serde::{Deserialize, Serialize};

use crate::domain::attachment::UploadLimits;

/// Attachments (issue #16).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttachmentSettings {
    /// Where the bytes go: `local:<directory>` (created if missing) or
    /// `s3://<bucket>` (S3 or an S3-compatible server, see the `s3_*` keys;
    /// credentials come from the standard `AWS_ACCESS_KEY_ID` /
    /// `AWS_SECRET_ACCESS_KEY` variables or `s3_credentials_file`).
    pub store: String,
    /// S3 endpoint URL of an S3-compatible server; none: AWS itself.
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: String,
    /// Allow a plain-HTTP endpoint (an in-cluster server without TLS).
    pub s3_allow_http: bool,
    /// File holding the S3 access key id on its first line and the secret
    /// access key on its second (a mounted secret); wins over the `AWS_`
    /// variables. Never the keys themselves in configuration.
    pub s3_credentials_file: Option<String>,
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// MIME types accepted, comma-separated; each upload's content is
    /// sniffed and must be the type it declares.
    pub allowed_types: String,
    /// Bytes per message of a download stream.
    pub chunk_bytes: usize,
    /// Days after a ticket closes that its files are deleted (checked every
    /// `sweep_interval_secs`); 0 keeps them for ever.
    pub retention_days: u32,
    /// Seconds after which an upload that never completed counts as
    /// abandoned: the sweep aborts it and removes its row and bytes. Longer
    /// than any upload takes (`server.request_timeout_secs` bounds it).
    pub upload_grace_secs: u64,
    /// Seconds between runs of the cleanup sweep and the retention purge.
    pub sweep_interval_secs: u64,
}

impl Default for AttachmentSettings {
    /// Photos, scans, PDFs, recordings and short videos up to 20 MiB: what
    /// callers send from a phone. Files kept three years after closing,
    /// the archive period of the centre's own records.
    fn default() -> Self {
        Self {
            store: "local:attachments".into(),
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_allow_http: false,
            s3_credentials_file: None,
            max_bytes: 20 * 1024 * 1024,
            allowed_types: "image/jpeg,image/png,image/gif,image/webp,application/pdf,\
                            audio/mpeg,audio/x-wav,video/mp4,text/plain"
                .into(),
            chunk_bytes: 64 * 1024,
            retention_days: 3 * 365,
            upload_grace_secs: 3600,
            sweep_interval_secs: 300,
        }
    }
}

impl AttachmentSettings {
    /// The upload limits in force.
    pub fn limits(&self) -> UploadLimits {
        UploadLimits {
            max_bytes: self.max_bytes,
            allowed_types: self
                .allowed_types
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
        }
    }

    /// Range checks: `(key, message)` of the first broken one.
    pub(super) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let store_ok = self
            .store
            .strip_prefix("local:")
            .or_else(|| self.store.strip_prefix("s3://"))
            .is_some_and(|rest| !rest.is_empty());
        if !store_ok {
            return Err((
                "attachments.store",
                "must be local:<directory> or s3://<bucket>",
            ));
        }
        if self.max_bytes == 0 {
            return Err(("attachments.max_bytes", "must be at least 1"));
        }
        if self.limits().allowed_types.is_empty() {
            return Err(("attachments.allowed_types", "must name at least one type"));
        }
        if !(1024..=1024 * 1024).contains(&self.chunk_bytes) {
            return Err((
                "attachments.chunk_bytes",
                "must be between 1024 and 1048576",
            ));
        }
        if self.sweep_interval_secs == 0 {
            return Err(("attachments.sweep_interval_secs", "must be at least 1"));
        }
        Ok(())
    }
}
