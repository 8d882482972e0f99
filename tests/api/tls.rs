//! Server TLS with certificates made at test time: a CA, a server
//! certificate for localhost and client certificates for mutual TLS; and
//! certificate files replaced under a running server.

use std::{path::Path, sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use hotline::{
    app::Application,
    auth::Verifier,
    config::{ClientAuth, Settings},
    domain::{MockClock, Role},
    proto::v1::{self as pb, directory_service_client::DirectoryServiceClient},
    store::testing::{TestBackend, TestStore},
};
use jsonwebtoken::DecodingKey;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use secrecy::SecretString;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::helpers::{SECRET, authed, token};

/// A certificate authority of the test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A certificate and its key (PEM) signed by `ca`.
struct Leaf {
    cert: String,
    key: String,
}

fn leaf(ca: &Ca, name: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let sans = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn server_leaf(ca: &Ca) -> Leaf {
    leaf(ca, "hotline", ExtendedKeyUsagePurpose::ServerAuth)
}

fn client_leaf(ca: &Ca) -> Leaf {
    leaf(
        ca,
        "provincial-platform",
        ExtendedKeyUsagePurpose::ClientAuth,
    )
}

/// Writes `leaf` as `server.crt`/`server.key` in `dir` the way certificate
/// managers do, new files renamed over the old ones.
fn install(dir: &Path, leaf: &Leaf) {
    for (name, text) in [("server.crt", &leaf.cert), ("server.key", &leaf.key)] {
        let tmp = dir.join(format!("{name}.new"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
}

/// A running TLS server; stops when dropped.
struct Server {
    addr: std::net::SocketAddr,
    settings: Settings,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _database: TestStore,
}

/// Starts a server whose TLS files are in `dir` (`server.crt`,
/// `server.key`), adjusted by `adjust`.
async fn serve(dir: &Path, adjust: impl FnOnce(&mut Settings)) -> Server {
    let database = TestBackend::from_env().fresh_store().await;
    let mut settings = Settings::default();
    settings.server.listen = "127.0.0.1:0".parse().unwrap();
    settings.admin.listen = "127.0.0.1:0".parse().unwrap();
    settings.auth.hs256_secret = Some(SecretString::from(SECRET));
    settings.tls.cert_file = Some(dir.join("server.crt").display().to_string());
    settings.tls.key_file = Some(dir.join("server.key").display().to_string());
    settings.knowledge.index_dir = dir.join("knowledge-index");
    adjust(&mut settings);
    let verifier = Verifier::new(DecodingKey::from_secret(SECRET.as_bytes()), &settings.auth);
    let clock = MockClock::new(Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap());
    let app = Application::build_with(
        settings.clone(),
        database.store(),
        verifier,
        Arc::new(clock),
    )
    .await
    .unwrap();
    let addr = app.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    Server {
        addr,
        settings,
        _shutdown: tx,
        _database: database,
    }
}

/// Connects (over TLS trusting `ca_pem`, with `identity` as client
/// certificate; or plaintext without `ca_pem`) and lists regions. A refusal
/// may come at connect or, with TLS 1.3 client certificates, at the first
/// call: either is an `Err`.
async fn call(
    server: &Server,
    ca_pem: Option<&str>,
    identity: Option<&Leaf>,
) -> Result<(), String> {
    let endpoint = match ca_pem {
        Some(ca_pem) => {
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca_pem))
                .domain_name("localhost");
            if let Some(leaf) = identity {
                tls = tls.identity(Identity::from_pem(&leaf.cert, &leaf.key));
            }
            Endpoint::from_shared(format!("https://{}", server.addr))
                .unwrap()
                .tls_config(tls)
                .unwrap()
        }
        None => Endpoint::from_shared(format!("http://{}", server.addr)).unwrap(),
    };
    let channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let admin = token(&server.settings, "admin-root", Role::Admin, None, None);
    DirectoryServiceClient::new(channel)
        .list_regions(authed(&admin, pb::ListRegionsRequest::default()))
        .await
        .map(drop)
        .map_err(|e| format!("call: {e:?}"))
}

#[tokio::test]
async fn a_client_trusting_the_ca_is_served_over_tls_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("hotline test CA");
    install(dir.path(), &server_leaf(&ca));
    let server = serve(dir.path(), |_| {}).await;

    call(&server, Some(&ca.pem), None).await.unwrap();
    assert!(call(&server, None, None).await.is_err(), "plaintext served");
    let stranger = new_ca("another CA");
    assert!(
        call(&server, Some(&stranger.pem), None).await.is_err(),
        "a client trusting another CA accepted the server"
    );
}

#[tokio::test]
async fn with_required_client_auth_only_clients_with_a_certificate_of_the_ca_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("hotline test CA");
    install(dir.path(), &server_leaf(&ca));
    let clients_ca = new_ca("system clients CA");
    let ca_file = dir.path().join("clients-ca.crt");
    std::fs::write(&ca_file, &clients_ca.pem).unwrap();
    let server = serve(dir.path(), |s| {
        s.tls.client_ca_file = Some(ca_file.display().to_string());
        s.tls.client_auth = ClientAuth::Required;
    })
    .await;

    call(&server, Some(&ca.pem), Some(&client_leaf(&clients_ca)))
        .await
        .unwrap();
    let refused = call(&server, Some(&ca.pem), None).await;
    assert!(
        refused.is_err(),
        "a client without a certificate was served"
    );
    let forged = client_leaf(&new_ca("someone else's CA"));
    let refused = call(&server, Some(&ca.pem), Some(&forged)).await;
    assert!(refused.is_err(), "a certificate of another CA was accepted");
}

#[tokio::test]
async fn with_optional_client_auth_clients_without_a_certificate_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("hotline test CA");
    install(dir.path(), &server_leaf(&ca));
    let ca_file = dir.path().join("clients-ca.crt");
    let clients_ca = new_ca("system clients CA");
    std::fs::write(&ca_file, &clients_ca.pem).unwrap();
    let server = serve(dir.path(), |s| {
        s.tls.client_ca_file = Some(ca_file.display().to_string());
        s.tls.client_auth = ClientAuth::Optional;
    })
    .await;

    call(&server, Some(&ca.pem), None).await.unwrap();
    call(&server, Some(&ca.pem), Some(&client_leaf(&clients_ca)))
        .await
        .unwrap();
    let forged = client_leaf(&new_ca("someone else's CA"));
    let refused = call(&server, Some(&ca.pem), Some(&forged)).await;
    assert!(refused.is_err(), "a certificate of another CA was accepted");
}

#[tokio::test]
async fn replaced_certificate_files_are_used_for_new_connections_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old_ca = new_ca("old CA");
    install(dir.path(), &server_leaf(&old_ca));
    let server = serve(dir.path(), |s| s.tls.reload_secs = 1).await;
    call(&server, Some(&old_ca.pem), None).await.unwrap();

    let new_ca = new_ca("new CA");
    install(dir.path(), &server_leaf(&new_ca));
    let mut waited = Duration::ZERO;
    while call(&server, Some(&new_ca.pem), None).await.is_err() {
        assert!(
            waited < Duration::from_secs(10),
            "the new certificate was not served within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        waited += Duration::from_millis(200);
    }
    assert!(
        call(&server, Some(&old_ca.pem), None).await.is_err(),
        "the old certificate is still served"
    );
}

#[tokio::test]
async fn a_broken_replacement_keeps_the_previous_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("hotline test CA");
    install(dir.path(), &server_leaf(&ca));
    let server = serve(dir.path(), |s| s.tls.reload_secs = 1).await;
    call(&server, Some(&ca.pem), None).await.unwrap();
    std::fs::write(dir.path().join("server.key"), "not a key").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    call(&server, Some(&ca.pem), None).await.unwrap();
}
