//! Server TLS with rustls, and mutual TLS for system-to-system clients.
//!
//! tonic's own `ServerTlsConfig` is fixed when the server starts, so a
//! renewed certificate would need a restart. Instead the listener's TCP
//! connections go through our own handshake: each connection takes the
//! rustls `ServerConfig` in force when it arrives, and a task re-reads the
//! certificate, key and client CA files when their modification times
//! change and swaps in a new config. Connections already open keep the
//! config they were made with; the next ones see the new files. A file that
//! does not parse (a renewal caught half-written) is logged and the old
//! config stays until the files change again.
//!
//! The TLS streams are tokio-rustls's, for which tonic implements
//! `Connected`: handlers can read the client certificate chain of a mutual
//! TLS connection with `Request::peer_certs`.

use std::{
    io,
    sync::{Arc, Mutex, PoisonError, RwLock, Weak},
    time::{Duration, SystemTime},
};

use anyhow::Context;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::{
    TlsAcceptor,
    rustls::{RootCertStore, ServerConfig, crypto::CryptoProvider, server::WebPkiClientVerifier},
    server::TlsStream,
};
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::transport::server::TcpIncoming;

use crate::config::{ClientAuth, TlsSettings};

/// The TLS side of the listener: the config in force and where it is
/// re-read from. Clones share the config.
#[derive(Clone)]
pub struct Tls {
    shared: Arc<Shared>,
}

struct Shared {
    settings: TlsSettings,
    /// The config new connections get; replaced whole on reload, so a
    /// handshake holds the one it took and the lock is held only to clone.
    config: RwLock<Arc<ServerConfig>>,
    /// The files as last read (or last tried), to notice a change.
    seen: Mutex<Fingerprint>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

/// Modification time and length of each file; `None` for one that cannot
/// be read (being replaced), which is a change too.
type Fingerprint = Vec<Option<(SystemTime, u64)>>;

impl Tls {
    /// Reads the files of `settings`; `None` when TLS is off.
    pub fn from_settings(settings: &TlsSettings) -> anyhow::Result<Option<Self>> {
        if !settings.enabled() {
            anyhow::ensure!(
                settings.client_ca_file.is_none(),
                "tls.client_ca_file is set but TLS is off: mutual TLS needs \
                 tls.cert_file and tls.key_file too"
            );
            return Ok(None);
        }
        anyhow::ensure!(
            settings.cert_file.is_some() && settings.key_file.is_some(),
            "TLS needs both tls.cert_file and tls.key_file; only one is set"
        );
        let seen = fingerprint(settings);
        let config = load(settings)?;
        Ok(Some(Self {
            shared: Arc::new(Shared {
                settings: settings.clone(),
                config: RwLock::new(config),
                seen: Mutex::new(seen),
            }),
        }))
    }

    /// The config new connections get.
    fn current(&self) -> Arc<ServerConfig> {
        self.shared
            .config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the files if they changed since last time; `Ok(true)` when
    /// a new config is in force. On error the previous config stays.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let now = fingerprint(&self.shared.settings);
        {
            let mut seen = self
                .shared
                .seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *seen == now {
                return Ok(false);
            }
            // Tried once per change: a broken file is reported once, and
            // fixing it (a new mtime) is the next change.
            *seen = now;
        }
        let config = load(&self.shared.settings)?;
        *self
            .shared
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = config;
        Ok(true)
    }

    /// Checks the files every `tls.reload_secs` while any clone is alive.
    fn spawn_reload(&self) {
        let every = self.shared.settings.reload_secs;
        if every == 0 {
            return;
        }
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(every));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(shared) = weak.upgrade() else { return };
                match (Self { shared }).reload_if_changed() {
                    Ok(true) => tracing::info!("TLS certificate files reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        "TLS files changed but could not be loaded; keeping the previous ones"
                    ),
                }
            }
        });
    }

    /// The accepted TCP connections after their TLS handshake, for
    /// `serve_with_incoming_shutdown`. Handshakes run concurrently, each
    /// bounded by `tls.handshake_timeout_secs`, so a slow or silent client
    /// does not hold up the others; failed handshakes are logged at debug
    /// (port scanners, plaintext clients) and dropped. The accept task ends
    /// when the server drops the stream, releasing the listener.
    pub fn incoming(
        self,
        mut tcp: TcpIncoming,
    ) -> impl Stream<Item = io::Result<TlsStream<TcpStream>>> + Send + 'static {
        self.spawn_reload();
        let timeout = Duration::from_secs(self.shared.settings.handshake_timeout_secs);
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = tx.closed() => return,
                    accepted = tcp.next() => accepted,
                };
                let socket = match accepted {
                    Some(Ok(socket)) => socket,
                    Some(Err(e)) => {
                        // Out of file descriptors and the like: pause
                        // rather than spin.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    None => return,
                };
                let acceptor = TlsAcceptor::from(self.current());
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(timeout, acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Ok(stream)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        });
        ReceiverStream::new(rx)
    }
}

fn fingerprint(settings: &TlsSettings) -> Fingerprint {
    [
        &settings.cert_file,
        &settings.key_file,
        &settings.client_ca_file,
    ]
    .into_iter()
    .flatten()
    .map(|path| {
        let meta = std::fs::metadata(path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    })
    .collect()
}

/// Builds a rustls config from the files: the certificate chain and key,
/// and with `client_ca_file` a verifier of client certificates. ALPN offers
/// only `h2`, which gRPC needs and tonic's clients insist on.
fn load(settings: &TlsSettings) -> anyhow::Result<Arc<ServerConfig>> {
    let (Some(cert_file), Some(key_file)) = (&settings.cert_file, &settings.key_file) else {
        anyhow::bail!("tls.cert_file and tls.key_file must both be set");
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("reading certificates from tls.cert_file {cert_file}"))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "tls.cert_file {cert_file} holds no PEM certificate"
    );
    let key = PrivateKeyDer::from_pem_file(key_file)
        .with_context(|| format!("reading the private key from tls.key_file {key_file}"))?;
    // ring rather than aws-lc-rs: no cmake and C toolchain to build it.
    // rustls deprecates it for lacking post-quantum key exchange, which
    // our clients (tonic, the provincial platform) do not offer yet.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &settings.client_ca_file {
        Some(ca_file) => {
            builder.with_client_cert_verifier(client_verifier(ca_file, settings, provider)?)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).with_context(|| {
        format!("tls.key_file {key_file} does not fit the certificate in {cert_file}")
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn client_verifier(
    ca_file: &str,
    settings: &TlsSettings,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn tokio_rustls::rustls::server::danger::ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .with_context(|| format!("reading tls.client_ca_file {ca_file}"))?
    {
        let cert = cert.with_context(|| format!("parsing tls.client_ca_file {ca_file}"))?;
        roots
            .add(cert)
            .with_context(|| format!("a CA certificate in tls.client_ca_file {ca_file}"))?;
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "tls.client_ca_file {ca_file} holds no PEM certificate"
    );
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = match settings.client_auth {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    builder
        .build()
        .with_context(|| format!("client certificate verifier from {ca_file}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a test failure

    use super::*;

    fn settings(cert: bool, key: bool, ca: bool) -> TlsSettings {
        let file = |on: bool, name: &str| on.then(|| format!("/nonexistent/{name}"));
        TlsSettings {
            cert_file: file(cert, "server.crt"),
            key_file: file(key, "server.key"),
            client_ca_file: file(ca, "ca.crt"),
            ..TlsSettings::default()
        }
    }

    fn error(settings: &TlsSettings) -> String {
        format!("{:#}", Tls::from_settings(settings).unwrap_err())
    }

    #[test]
    fn tls_is_off_without_files_and_half_a_setup_is_an_error() {
        assert!(
            Tls::from_settings(&settings(false, false, false))
                .unwrap()
                .is_none()
        );
        assert!(
            error(&settings(true, false, false)).contains("both tls.cert_file and tls.key_file")
        );
        assert!(
            error(&settings(false, true, false)).contains("both tls.cert_file and tls.key_file")
        );
        assert!(error(&settings(false, false, true)).contains("TLS is off"));
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = error(&settings(true, true, false));
        assert!(
            err.contains("tls.cert_file /nonexistent/server.crt"),
            "{err}"
        );
    }
}
