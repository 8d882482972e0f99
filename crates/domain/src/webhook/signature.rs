//! The signature of a webhook body: `X-Hotline-Signature: t=<unix
//! seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
//! subscription's secret (the scheme Stripe and others use).
//!
//! The timestamp is inside the MAC, so a receiver that rejects old
//! timestamps (say older than five minutes) also rejects a replay of a
//! captured request; the version tag (`v1`) lets the scheme change without
//! breaking receivers that check the old one. Receivers must compare in
//! constant time ([`verify`] does).

use hmac::{Hmac, KeyInit, Mac};
use pii_sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hotline-signature";
/// The header carrying the event's id, the receiver's dedupe key
/// (deliveries are at least once).
pub const EVENT_ID_HEADER: &str = "x-hotline-event-id";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    format!("t={timestamp},v1={hex}")
}

/// Whether `header` is a valid signature of `body` under `secret`, made
/// no more than `tolerance_secs` away from `now` (Unix seconds). What a
/// receiver does; here for the tests and as the reference for
/// `docs/webhooks.md`.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", hex)) => signatures.push(hex),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    signatures.into_iter().any(|hex| {
        decode_hex(hex)
            .is_some_and(|bytes| mac(secret, timestamp, body).verify_slice(&bytes).is_ok())
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
