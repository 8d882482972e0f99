//! Object storage of attachment bytes, through the `object_store` crate: a
//! local directory by default, S3 or an S3-compatible server in production
//! (`attachments.store`).
//!
//! Uploads are multipart on both, so bytes stream through without being
//! held in memory and an object appears only once complete:
//! - locally, `object_store` writes a staging file `<key>#<n>` and renames
//!   it on completion (an upload dropped midway removes its staging file;
//!   one cut by a crash is removed by [`Blobs::abandon`]);
//! - on S3, through the low-level [`MultipartStore`] so the upload id is
//!   known: it is recorded with the attachment's row, and an upload whose
//!   server died is aborted by [`Blobs::abandon`] from the sweep.
//!   (`put_multipart` hides the id, and S3 keeps the parts of an upload
//!   never aborted, billed, until a lifecycle rule removes them.)

use std::{
    path::{Path as FsPath, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use bytes::Bytes;
use futures_util::{StreamExt, stream::BoxStream};
use object_store::{
    MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload,
    aws::{AmazonS3, AmazonS3Builder},
    local::LocalFileSystem,
    multipart::{MultipartStore, PartId},
    path::Path,
};

use crate::config::AttachmentSettings;

/// Smallest S3 part but the last (S3's limit); chunks are gathered to it.
const S3_PART_BYTES: usize = 5 * 1024 * 1024;

/// Where attachment bytes are kept.
#[derive(Debug, Clone)]
pub struct Blobs {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    /// A directory (absolute), opened at its first use: a server whose
    /// directory cannot be made (a read-only root file system, before a
    /// volume or S3 is configured) still starts, and its uploads answer
    /// UNAVAILABLE. `root` also serves to clean staging files left by a crash.
    Local {
        store: Arc<tokio::sync::OnceCell<LocalFileSystem>>,
        root: PathBuf,
    },
    /// A bucket.
    S3(Arc<AmazonS3>),
}

/// A storage call failed; the message names the object.
pub type BlobError = object_store::Error;

impl Blobs {
    /// Opens the store `attachments.store` names (a local directory is
    /// created, if missing, at its first use).
    pub fn from_settings(settings: &AttachmentSettings) -> anyhow::Result<Self> {
        if let Some(dir) = settings.store.strip_prefix("local:") {
            let root = std::path::absolute(dir)
                .with_context(|| format!("attachments.store: the directory {dir}"))?;
            return Ok(Self {
                backend: Backend::Local {
                    store: Arc::default(),
                    root,
                },
            });
        }
        let bucket = settings
            .store
            .strip_prefix("s3://")
            .context("attachments.store must be local:<directory> or s3://<bucket>")?;
        // reqwest's rustls has no bundled provider (no aws-lc build): the
        // ring provider the server's TLS uses serves it (deprecated for
        // lacking post-quantum key exchange, see `tls.rs`). Already
        // installed is fine.
        #[allow(deprecated)]
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&settings.s3_region)
            .with_allow_http(settings.s3_allow_http);
        if let Some(endpoint) = &settings.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(file) = &settings.s3_credentials_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading attachments.s3_credentials_file {file}"))?;
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let (Some(id), Some(secret)) = (lines.next(), lines.next()) else {
                anyhow::bail!(
                    "attachments.s3_credentials_file {file}: expected the access key id and the \
                     secret access key on two lines"
                );
            };
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        let s3 = builder
            .build()
            .with_context(|| format!("configuring the S3 bucket {bucket}"))?;
        Ok(Self {
            backend: Backend::S3(Arc::new(s3)),
        })
    }

    /// The object store, the local directory made at the first call.
    async fn store(&self) -> Result<&dyn ObjectStore, BlobError> {
        match &self.backend {
            Backend::Local { store, root } => {
                let local = store
                    .get_or_try_init(|| async {
                        let dir = root.clone();
                        tokio::task::spawn_blocking(move || {
                            std::fs::create_dir_all(&dir).map_err(|e| local_error(Box::new(e)))?;
                            LocalFileSystem::new_with_prefix(&dir)
                        })
                        .await
                        .map_err(|e| local_error(Box::new(e)))?
                    })
                    .await?;
                Ok(local)
            }
            Backend::S3(s3) => Ok(s3.as_ref()),
        }
    }

    /// Starts writing the object `key`; nothing is visible under it until
    /// [`BlobWriter::finish`].
    pub async fn start(&self, key: &str) -> Result<BlobWriter, BlobError> {
        let path = Path::from(key);
        let upload = match &self.backend {
            Backend::Local { .. } => Upload::Local(self.store().await?.put_multipart(&path).await?),
            Backend::S3(s3) => {
                let id = s3.create_multipart(&path).await?;
                Upload::S3 {
                    s3: s3.clone(),
                    path,
                    id,
                    parts: Vec::new(),
                    pending: Vec::new(),
                }
            }
        };
        Ok(BlobWriter { upload })
    }

    /// The object's bytes as a stream.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        Ok(self
            .store()
            .await?
            .get(&Path::from(key))
            .await?
            .into_stream())
    }

    /// Deletes the object; one already gone is no error (deletes repeat
    /// when the row's delete failed after the object's).
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store().await?.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether the object exists (tests and checks).
    pub async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        match self.store().await?.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes every trace of an upload that never completed: the S3
    /// multipart upload `upload_id` (aborted), a local staging file left
    /// by a crash, and the object itself in case the upload completed but
    /// its row was never marked so.
    pub async fn abandon(&self, key: &str, upload_id: Option<&str>) -> Result<(), BlobError> {
        let path = Path::from(key);
        match &self.backend {
            Backend::S3(s3) => {
                if let Some(id) = upload_id {
                    match s3.abort_multipart(&path, &id.to_owned()).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Backend::Local { root, .. } => {
                let target = root.join(key);
                tokio::task::spawn_blocking(move || remove_staging_files(&target))
                    .await
                    .map_err(|e| local_error(Box::new(e)))?
                    .map_err(|e| local_error(Box::new(e)))?;
            }
        }
        self.delete(key).await
    }
}

/// An error of the local directory outside `object_store`'s own calls.
fn local_error(source: Box<dyn std::error::Error + Send + Sync>) -> BlobError {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source,
    }
}

/// Deletes `<target>#<n>`: `object_store`'s staging files of `target`.
fn remove_staging_files(target: &FsPath) -> std::io::Result<()> {
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return Ok(());
    };
    let prefix = format!("{}#", name.to_string_lossy());
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// An object being written.
#[derive(Debug)]
pub struct BlobWriter {
    upload: Upload,
}

#[derive(Debug)]
enum Upload {
    Local(Box<dyn MultipartUpload>),
    S3 {
        s3: Arc<AmazonS3>,
        path: Path,
        id: String,
        parts: Vec<PartId>,
        /// Bytes gathered for the next part.
        pending: Vec<u8>,
    },
}

impl BlobWriter {
    /// The multipart upload id to record, where the store has one (S3).
    pub fn upload_id(&self) -> Option<&str> {
        match &self.upload {
            Upload::Local(_) => None,
            Upload::S3 { id, .. } => Some(id),
        }
    }

    /// Appends bytes.
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), BlobError> {
        match &mut self.upload {
            Upload::Local(upload) => upload.put_part(PutPayload::from(bytes)).await,
            Upload::S3 {
                s3,
                path,
                id,
                parts,
                pending,
            } => {
                pending.extend_from_slice(&bytes);
                if pending.len() >= S3_PART_BYTES {
                    let part = PutPayload::from(std::mem::take(pending));
                    parts.push(s3.put_part(path, id, parts.len(), part).await?);
                }
                Ok(())
            }
        }
    }

    /// Writes what is left and publishes the object.
    pub async fn finish(self) -> Result<(), BlobError> {
        match self.upload {
            Upload::Local(mut upload) => upload.complete().await.map(|_| ()),
            Upload::S3 {
                s3,
                path,
                id,
                mut parts,
                pending,
            } => {
                if !pending.is_empty() || parts.is_empty() {
                    let part = PutPayload::from(pending);
                    parts.push(s3.put_part(&path, &id, parts.len(), part).await?);
                }
                s3.complete_multipart(&path, &id, parts).await.map(|_| ())
            }
        }
    }

    /// Discards what was written; nothing stays under the key.
    pub async fn abort(self) -> Result<(), BlobError> {
        match self.upload {
            Upload::Local(mut upload) => upload.abort().await,
            Upload::S3 { s3, path, id, .. } => s3.abort_multipart(&path, &id).await,
        }
    }
}

/// Bytes read from a stream, re-cut into chunks of at most `size` bytes.
pub fn rechunk(
    stream: BoxStream<'static, Result<Bytes, BlobError>>,
    size: usize,
) -> BoxStream<'static, Result<Bytes, BlobError>> {
    stream
        .flat_map(move |item| {
            let pieces: Vec<Result<Bytes, BlobError>> = match item {
                Ok(bytes) => (0..bytes.len())
                    .step_by(size.max(1))
                    .map(|at| Ok(bytes.slice(at..(at + size).min(bytes.len()))))
                    .collect(),
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(pieces)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a test failure

    use super::*;

    #[tokio::test]
    async fn rechunk_cuts_every_piece_to_the_size_and_keeps_the_bytes() {
        let pieces: Vec<Result<Bytes, BlobError>> = vec![
            Ok(Bytes::from_static(b"abcdefg")),
            Ok(Bytes::from_static(b"")),
            Ok(Bytes::from_static(b"hi")),
        ];
        let out: Vec<Bytes> = rechunk(futures_util::stream::iter(pieces).boxed(), 3)
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(out, [&b"abc"[..], b"def", b"g", b"hi"]);
    }

    #[tokio::test]
    async fn abandon_removes_staging_files_and_the_object_of_a_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let settings = AttachmentSettings {
            store: format!("local:{}", dir.path().display()),
            ..AttachmentSettings::default()
        };
        let blobs = Blobs::from_settings(&settings).unwrap();
        let mut kept = blobs.start("attachments/t/kept").await.unwrap();
        kept.write(Bytes::from_static(b"kept")).await.unwrap();
        kept.finish().await.unwrap();
        let mut done = blobs.start("attachments/t/a").await.unwrap();
        done.write(Bytes::from_static(b"done")).await.unwrap();
        done.finish().await.unwrap();
        let staging = dir.path().join("attachments/t/a#7");
        std::fs::write(&staging, b"left by a crash").unwrap();

        blobs.abandon("attachments/t/a", None).await.unwrap();
        assert!(!staging.exists());
        assert!(!blobs.exists("attachments/t/a").await.unwrap());
        assert!(blobs.exists("attachments/t/kept").await.unwrap());
        blobs.abandon("attachments/t/missing", None).await.unwrap();
        blobs.delete("attachments/t/missing").await.unwrap();
    }
}
