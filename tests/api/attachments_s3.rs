//! Attachments on S3, against a real S3-compatible server (moto's
//! `moto_server`) the test starts on 127.0.0.1: the multipart upload and
//! download, a corrupt upload leaving nothing in the bucket, and uploads
//! cut midway (by the client, or by a server that died) aborted.
//!
//! `#[ignore]`d: `cargo test` on a fresh clone needs no Python. CI's
//! PostgreSQL leg runs them (`--include-ignored`) with `HOTLINE_TEST_MOTO`
//! set to the `moto_server` of a virtual environment made from
//! `tests/s3/requirements.txt`; without it, or when the server does not
//! start, they fail rather than skip.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use chrono::TimeDelta;
use hotline::{
    blobs::Blobs,
    domain::attachment::{AttachmentId, object_key},
};
use tonic::Code;

use crate::{
    attachment_client::{
        abandoned_upload, chunk_message, delete, download, eventually, list, meta_message,
        metadata, png, ticket_of, unfinished_upload, upload, upload_png, uploads_in_flight,
    },
    helpers::{complaint, spawn_app_configured},
};

const BUCKET: &str = "hotline-attachments";

/// A `moto_server` on a free port of 127.0.0.1, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
    http: reqwest::Client,
}

impl Moto {
    /// Starts the server `HOTLINE_TEST_MOTO` names and waits until it
    /// answers; panics (the test fails) when it cannot.
    async fn start() -> Self {
        let server = std::env::var("HOTLINE_TEST_MOTO").unwrap_or_else(|_| {
            panic!(
                "HOTLINE_TEST_MOTO is not set: these tests need an S3-compatible server. \
                 Install moto into a virtual environment (python3 -m venv /tmp/moto && \
                 /tmp/moto/bin/pip install -r tests/s3/requirements.txt) and set \
                 HOTLINE_TEST_MOTO=/tmp/moto/bin/moto_server (.ci/run does this)"
            )
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {server}: {e}"));
        // reqwest's rustls has no bundled provider; the server's is ring.
        #[allow(deprecated)]
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..300 {
            if moto.http.get(&moto.endpoint).send().await.is_ok() {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{server} did not answer on {} within 30 s", moto.endpoint);
    }

    /// Creates a bucket (moto takes unsigned requests).
    async fn create_bucket(&self, bucket: &str) {
        let response = self
            .http
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    }

    /// The text of a bucket query.
    async fn query(&self, bucket: &str, query: &str) -> String {
        self.http
            .get(format!("{}/{bucket}?{query}", self.endpoint))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The keys of the objects in the bucket.
    async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = self.query(bucket, "list-type=2").await;
        xml.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    /// Multipart uploads begun and neither completed nor aborted.
    async fn open_multipart_uploads(&self, bucket: &str) -> usize {
        self.query(bucket, "uploads")
            .await
            .matches("<Upload>")
            .count()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
#[ignore = "needs moto_server (HOTLINE_TEST_MOTO); CI's PostgreSQL leg runs it"]
async fn attachments_round_trip_through_s3_and_cut_uploads_are_aborted() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    let secrets = tempfile::tempdir().unwrap();
    let credentials = secrets.path().join("s3-credentials");
    std::fs::write(&credentials, "test-key-id\ntest-secret\n").unwrap();
    let endpoint = moto.endpoint.clone();
    let app = spawn_app_configured(|s| {
        s.attachments.store = format!("s3://{BUCKET}");
        s.attachments.s3_endpoint = Some(endpoint);
        s.attachments.s3_allow_http = true;
        s.attachments.s3_credentials_file = Some(credentials.display().to_string());
        s.attachments.sweep_interval_secs = 1;
        s.attachments.upload_grace_secs = 60;
    })
    .await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await;

    // Two parts: one of 5 MiB (S3's smallest but the last) and the rest.
    let bytes = png(6 * 1024 * 1024 + 123);
    let stored = upload_png(&agent, &ticket.name, &bytes, 256 * 1024)
        .await
        .unwrap();
    let (_, downloaded) = download(&agent, &stored.name).await.unwrap();
    assert!(downloaded == bytes, "the bytes come back unchanged");
    let id = stored.name.rsplit('/').next().unwrap();
    let ticket_id = ticket_of(&ticket.name);
    let key = object_key(ticket_id, AttachmentId::parse(id).unwrap());
    assert_eq!(moto.keys(BUCKET).await, std::slice::from_ref(&key));

    // A corrupt upload: refused, nothing in the bucket, no upload left open.
    let mut corrupted = bytes.clone();
    corrupted[5_500_000] ^= 1;
    let err = upload(
        &agent,
        metadata(&ticket.name, &bytes, "image/png"),
        &corrupted,
        256 * 1024,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(moto.keys(BUCKET).await, std::slice::from_ref(&key));
    assert_eq!(moto.open_multipart_uploads(BUCKET).await, 0);
    assert!(uploads_in_flight(&app).await.is_empty());

    // The client goes away after a part reached S3: the upload is aborted.
    let mut messages = vec![meta_message(metadata(&ticket.name, &bytes, "image/png"))];
    // Under the 4 MiB message limit each, more than a part together.
    messages.extend(
        bytes[..6 * 1024 * 1024]
            .chunks(3 * 1024 * 1024)
            .map(chunk_message),
    );
    let (tx, call) = unfinished_upload(&agent, messages).await;
    eventually("a part of the upload is in S3", || async {
        moto.open_multipart_uploads(BUCKET).await == 1
    })
    .await;
    call.abort();
    drop(tx);
    eventually("the cut upload is aborted", || async {
        moto.open_multipart_uploads(BUCKET).await == 0 && uploads_in_flight(&app).await.is_empty()
    })
    .await;

    // A server died mid-upload: its row names the multipart upload, which
    // the sweep aborts once the grace period is over.
    let blobs = Blobs::from_settings(&app.settings.attachments).unwrap();
    let now = app.clock_now();
    let abandoned_id = AttachmentId::generate(now);
    let abandoned_key = object_key(ticket_id, abandoned_id);
    let mut writer = blobs.start(&abandoned_key).await.unwrap();
    writer
        .write(bytes[..5 * 1024 * 1024].to_vec().into())
        .await
        .unwrap();
    let abandoned = abandoned_upload(
        ticket_id,
        abandoned_id,
        now,
        bytes.len() as i64,
        writer.upload_id().map(str::to_owned),
    );
    assert!(abandoned.upload_id.is_some(), "S3 uploads have an id");
    app.store.begin_attachment(&abandoned).await.unwrap();
    drop(writer);
    assert_eq!(moto.open_multipart_uploads(BUCKET).await, 1);
    app.clock.advance(TimeDelta::seconds(61));
    eventually("the sweep aborts the abandoned upload", || async {
        moto.open_multipart_uploads(BUCKET).await == 0 && uploads_in_flight(&app).await.is_empty()
    })
    .await;

    // Deleting the file deletes the object.
    delete(&agent, &stored.name).await.unwrap();
    assert!(moto.keys(BUCKET).await.is_empty());
    assert!(list(&agent, &ticket.name).await.unwrap().is_empty());
}
