//! The fingerprint that binds a `request_id` to its request (see
//! `service::workflow::idempotency` for what is done with it).
//!
//! The fingerprint is SHA-256 of the request message re-encoded by prost
//! with `request_id` cleared, in unpadded base64url. Why this is stable
//! enough to compare a retry with its first attempt:
//!
//! - it is taken from the decoded message, not the bytes received, so how
//!   the client's library ordered or packed the fields does not matter;
//! - prost writes the known fields of a message in field-number order,
//!   packs repeated scalars and leaves proto3 defaults out, so one message
//!   value has one encoding. The one source of nondeterminism, map fields
//!   (a `HashMap` iterates in random order), is absent: no request has a
//!   map field, and `build.rs` generates any future map as a `BTreeMap`;
//! - a field added to a request later is absent from requests that do not
//!   set it, so an upgrade between a call and its retry changes nothing;
//!   fields a replica does not know are dropped by prost on decode, so a
//!   client that sets a field the old replica lacks could be told apart
//!   only across such an upgrade (a new `request_id` then is the cure);
//! - a domain form would not do: some actions depend on the time or on the
//!   ticket they are applied to (an order's deadline, an update's patched
//!   intake), and would differ between a request and its retry.
//!
//! `golden_fingerprints_do_not_change` pins the format, so a change that
//! would make retries across an upgrade look like reused keys fails a test.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::proto::v1 as pb;
use crate::service::workflow::RequestKey;

/// A request that takes an AIP-155 `request_id`.
pub(crate) trait IdempotentRequest: Message + Clone {
    /// The client's idempotency key.
    fn request_id(&self) -> &str;
    /// Clears it, leaving what a retry must repeat.
    fn clear_request_id(&mut self);
}

macro_rules! idempotent_requests {
    ($($t:ident),+ $(,)?) => {
        $(impl IdempotentRequest for pb::$t {
            fn request_id(&self) -> &str {
                &self.request_id
            }
            fn clear_request_id(&mut self) {
                self.request_id.clear();
            }
        })+
    };
}

idempotent_requests!(
    CreateTicketRequest,
    UpdateTicketRequest,
    ResolveAtIntakeRequest,
    TransferEmergencyRequest,
    MarkNotAcceptedRequest,
    DispatchTicketRequest,
    SignTicketRequest,
    ReplyTicketRequest,
    RecordCallbackRequest,
    CloseTicketRequest,
    ReturnTicketRequest,
    ArbitrateReturnRequest,
    AddProgressNoteRequest,
    RequestExtensionRequest,
    DecideExtensionRequest,
    ReviewReplyRequest,
    ReopenTicketRequest,
    MergeTicketsRequest,
    UnmergeTicketRequest,
    UrgeTicketRequest,
    IssueSupervisionOrderRequest,
    RespondToSupervisionRequest,
    CreateUnitRequest,
    ConfirmHotspotRequest,
    DismissHotspotRequest,
    MergeHotspotsRequest,
    CreateArticleRequest,
    UpdateArticleRequest,
    SubmitArticleRequest,
    ApproveArticleRequest,
    RejectArticleRequest,
    RetireArticleRequest,
    ImportArticlesRequest,
);

/// The request's `request_id` and fingerprint; no fingerprint is computed
/// for a request without one.
pub(crate) fn request_key<M: IdempotentRequest>(request: &M) -> RequestKey {
    if request.request_id().trim().is_empty() {
        return RequestKey::none();
    }
    let mut rest = request.clone();
    rest.clear_request_id();
    RequestKey {
        request_id: request.request_id().to_owned(),
        fingerprint: URL_SAFE_NO_PAD.encode(Sha256::digest(rest.encode_to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(title: &str, request_id: &str) -> pb::CreateTicketRequest {
        pb::CreateTicketRequest {
            ticket: Some(pb::Ticket {
                channel: pb::Channel::Phone as i32,
                request_type: pb::RequestType::Complaint as i32,
                region_code: "330106".into(),
                title: title.into(),
                description: "夜间施工".into(),
                ..Default::default()
            }),
            request_id: request_id.into(),
        }
    }

    #[test]
    fn the_fingerprint_ignores_the_request_id_and_nothing_else() {
        let a = request_key(&create("噪音", "req-1"));
        let b = request_key(&create("噪音", "req-2"));
        let c = request_key(&create("噪音扰民", "req-1"));
        assert_eq!(a.request_id, "req-1");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.fingerprint.len(), 43, "SHA-256 in unpadded base64url");
    }

    #[test]
    fn the_fingerprint_does_not_depend_on_how_the_client_encoded_the_request() {
        // Field 2 (request_id) before field 1 (ticket): legal protobuf, but
        // not how prost writes it. Decoded and fingerprinted, it is the
        // same request.
        let request = create("噪音", "req-1");
        let ticket = request.ticket.clone().unwrap().encode_to_vec();
        let mut reordered = Vec::new();
        pb::CreateTicketRequest {
            ticket: None,
            request_id: "req-1".into(),
        }
        .encode(&mut reordered)
        .unwrap();
        prost::encoding::bytes::encode(1, &ticket, &mut reordered);
        let decoded = pb::CreateTicketRequest::decode(reordered.as_slice()).unwrap();
        assert_eq!(request_key(&decoded), request_key(&request));
    }

    #[test]
    fn no_request_id_no_fingerprint() {
        assert_eq!(request_key(&create("噪音", "")), RequestKey::none());
        assert_eq!(request_key(&create("噪音", "  ")), RequestKey::none());
    }

    #[test]
    fn golden_fingerprints_do_not_change() {
        // Recorded once: a retry that reaches a replica of a later version
        // must compute what the first attempt's replica recorded. The sign
        // request's value is SHA-256 of its protobuf bytes worked out by
        // hand (0x0a, len, name, 0x12, len, etag), so the format is the
        // plain wire encoding and nothing of prost's own.
        assert_eq!(
            request_key(&create("噪音", "req-1")).fingerprint,
            GOLDEN_CREATE
        );
        let sign = pb::SignTicketRequest {
            name: "tickets/0193b3c0-0000-7000-8000-000000000001".into(),
            etag: "\"2\"".into(),
            request_id: "sign-1".into(),
        };
        assert_eq!(request_key(&sign).fingerprint, GOLDEN_SIGN);
    }

    const GOLDEN_CREATE: &str = "ehn-rPRiI45Qa3uFX20ryMbEkJGtdtskDRjTOCtGsb4";
    const GOLDEN_SIGN: &str = "n7YtpMJ9ZiRXW1mAn5g1LCdIP0FGm1nMp8eSqodzTzE";
}
