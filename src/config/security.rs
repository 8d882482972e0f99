//! Settings of the transport's protection: TLS (and mutual TLS for
//! system-to-system clients) and per-principal quotas. Kept apart from the
//! other sections so the listener's own settings stay about listening.

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Whether a TLS client must present a certificate signed by
/// `tls.client_ca_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// Every connection needs a client certificate: a listener that only
    /// system clients (the provincial platform, the SMS gateway) reach.
    Required,
    /// A certificate is checked when presented, but browsers and agents'
    /// consoles without one still connect (and authenticate by token).
    Optional,
}

/// Server TLS. Off unless `cert_file` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first. Setting it turns TLS on.
    pub cert_file: Option<String>,
    /// PEM private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<String>,
    /// PEM CA certificates that sign client certificates: turns on mutual
    /// TLS.
    pub client_ca_file: Option<String>,
    /// With `client_ca_file`: must every client present a certificate?
    pub client_auth: ClientAuth,
    /// Seconds between checks of the three files' modification times; new
    /// connections use changed files without a restart (certificates of a
    /// few weeks' life, renewed by an ACME client or a provincial CA). 0:
    /// read them at start only.
    pub reload_secs: u64,
    /// A client that has not finished its TLS handshake after this many
    /// seconds is dropped, so idle sockets cannot pile up.
    pub handshake_timeout_secs: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            client_auth: ClientAuth::Required,
            reload_secs: 30,
            handshake_timeout_secs: 10,
        }
    }
}

impl TlsSettings {
    /// TLS is on (or meant to be: a key without a certificate is an
    /// error at start, not a silent plaintext listener).
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Range checks. Which files go together is checked when the server
    /// reads them (`crate::tls`), so that each setting can still be given
    /// alone in a layer, the others coming from another.
    pub(super) fn check(&self) -> Result<(), Invalid> {
        if self.handshake_timeout_secs == 0 {
            return Err(Invalid::new(
                "tls.handshake_timeout_secs",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Per-principal quotas (the token's `sub`), so that one runaway client, a
/// misconfigured integration in a retry loop, cannot starve the agents. 0
/// turns a limit off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaSettings {
    /// Sustained RPCs per second of one principal.
    pub requests_per_second: u32,
    /// RPCs one principal may send at once above the sustained rate (a
    /// console opening a screen fires a dozen calls together).
    pub burst: u32,
    /// Open server streams (`WatchTickets`, `WatchAlerts`) of one principal.
    pub max_streams_per_principal: u32,
}

impl Default for QuotaSettings {
    /// Generous: an agent's console sends a few RPCs a second and watches
    /// with one or two streams; the provincial platform's batches stay well
    /// under 200 a second. The limits catch loops, not real use.
    fn default() -> Self {
        Self {
            requests_per_second: 200,
            burst: 400,
            max_streams_per_principal: 16,
        }
    }
}

impl QuotaSettings {
    /// No limits at all (the load generator's in-process server).
    pub fn unlimited() -> Self {
        Self {
            requests_per_second: 0,
            burst: 0,
            max_streams_per_principal: 0,
        }
    }
}
