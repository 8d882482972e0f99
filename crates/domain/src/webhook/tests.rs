//! The pure parts of webhooks: validation, matching, backoff, signatures
//! and what a body may carry.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::{
    SubscriptionSpec,
    backoff::Backoff,
    check_secret, check_url,
    payload::WebhookBody,
    signature::{sign, verify},
};
use crate::{
    DomainError, Principal, RegionCode, Transition, UnitId,
    access::Role,
    person::Caller,
    ticket::{Channel, Intake, RequestType, Ticket, Urgency},
};

fn spec() -> SubscriptionSpec {
    SubscriptionSpec {
        url: "https://bigdata.example.gov.cn/hooks/12345".into(),
        event_kinds: Vec::new(),
        unit: None,
        region_prefix: None,
        pii_allowed: false,
        active: true,
        description: String::new(),
    }
}

fn field_of(err: DomainError) -> String {
    match err {
        DomainError::InvalidField { field, .. } => field,
        other => panic!("not a field error: {other:?}"),
    }
}

#[test]
fn only_http_and_https_urls_with_a_host_are_accepted() {
    for ok in [
        "http://127.0.0.1:8080/hook",
        "https://example.org",
        "HTTPS://Example.org/a?b=c",
        "http://[::1]:9000/x",
    ] {
        assert_eq!(check_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        "",
        "ftp://example.org/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.org/hook",
        "http://",
        "https:///path",
        "http://:80/x",
        "http://user:pw@example.org/",
        "http://exa mple.org/",
        "http://example.org/\n",
    ] {
        assert_eq!(field_of(check_url(bad).unwrap_err()), "url", "{bad:?}");
    }
    let long = format!("https://example.org/{}", "a".repeat(2048));
    assert!(check_url(&long).is_err());
}

#[test]
fn validation_names_the_field_and_normalises_kinds() {
    let mut s = spec();
    s.event_kinds = vec!["overdue".into(), "dispatched".into(), "overdue".into()];
    let ok = s.validated().unwrap();
    assert_eq!(ok.event_kinds, ["dispatched", "overdue"]);

    let mut s = spec();
    s.event_kinds = vec!["teleported".into()];
    assert_eq!(field_of(s.validated().unwrap_err()), "event_kinds");
    let mut s = spec();
    s.region_prefix = Some("33a".into());
    assert_eq!(field_of(s.validated().unwrap_err()), "region_prefix");
    let mut s = spec();
    s.description = "x".repeat(501);
    assert_eq!(field_of(s.validated().unwrap_err()), "description");
    assert!(check_secret("short").is_err());
    assert!(check_secret(&"s".repeat(16)).is_ok());
    assert!(check_secret(&"s".repeat(257)).is_err());
}

#[test]
fn a_subscription_wants_its_kinds_unit_and_region_only() {
    let all = spec();
    assert!(all.wants("created", "330106001", None));
    let mut s = spec();
    s.event_kinds = vec!["overdue".into()];
    s.unit = Some(UnitId::parse("water-bureau").unwrap());
    s.region_prefix = Some("3301".into());
    assert!(s.wants("overdue", "330106001", Some("water-bureau")));
    assert!(!s.wants("created", "330106001", Some("water-bureau")));
    assert!(!s.wants("overdue", "330106001", Some("market-regulation")));
    assert!(!s.wants("overdue", "330106001", None));
    assert!(!s.wants("overdue", "110105", Some("water-bureau")));
}

#[test]
fn backoff_doubles_up_to_the_cap_with_a_floor_of_half() {
    let b = Backoff {
        base: Duration::from_secs(2),
        max: Duration::from_secs(60),
    };
    let ceilings: Vec<u64> = (1..=7).map(|n| b.ceiling(n).as_secs()).collect();
    assert_eq!(ceilings, [2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(b.delay(3, 0.0), Duration::from_secs(4));
    assert_eq!(b.delay(3, 1.0), Duration::from_secs(8));
    assert_eq!(b.delay(3, 0.5), Duration::from_secs(6));
    assert_eq!(b.delay(3, f64::NAN), Duration::from_secs(4));
    assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(60));
}

proptest! {
    #[test]
    fn backoff_stays_between_half_the_ceiling_and_the_cap(
        base_ms in 1u64..10_000,
        max_ms in 1u64..3_600_000,
        failures in 1u32..100,
        jitter in -1.0f64..2.0,
    ) {
        let b = Backoff { base: Duration::from_millis(base_ms), max: Duration::from_millis(max_ms) };
        let ceiling = b.ceiling(failures);
        let delay = b.delay(failures, jitter);
        prop_assert!(ceiling <= b.max);
        prop_assert!(delay <= ceiling);
        prop_assert!(delay >= ceiling / 2);
        prop_assert!(b.ceiling(failures + 1) >= ceiling);
    }

    #[test]
    fn a_signature_verifies_only_its_own_body_secret_and_time(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        other in proptest::collection::vec(any::<u8>(), 0..256),
        t in 1_700_000_000i64..1_900_000_000,
    ) {
        let secret = b"0123456789abcdef-secret";
        let header = sign(secret, t, &body);
        prop_assert!(verify(secret, &header, &body, t + 10, 300));
        prop_assert!(!verify(b"another-secret-0123456", &header, &body, t, 300));
        prop_assert!(!verify(secret, &header, &body, t + 301, 300));
        if other != body {
            prop_assert!(!verify(secret, &header, &other, t, 300));
        }
    }
}

#[test]
fn the_signature_is_hmac_sha256_of_time_dot_body() {
    // A known answer, computed independently with Python's hmac module:
    // `hmac.new(b"secret-secret-secret", b"1700000000.{}", sha256)`.
    let header = sign(b"secret-secret-secret", 1_700_000_000, b"{}");
    assert_eq!(
        header,
        "t=1700000000,v1=9abb7ec2de5533bf35e03b3947b220889dd81b1238d43182a426463aafcc6e8c"
    );
}

fn ticket(confidential: bool, anonymous: bool) -> Transition {
    let agent = Principal {
        subject: "agent-1".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    };
    let caller = if anonymous {
        Caller::parse("", "", true).unwrap()
    } else {
        Caller::parse("张三", "13812345678", false).unwrap()
    };
    let intake = Intake {
        channel: Channel::Phone,
        legacy_hotline: None,
        caller,
        confidential,
        request_type: RequestType::Complaint,
        urgency: Urgency::Normal,
        subject_code: None,
        region_code: RegionCode::parse("330106").unwrap(),
        address: "西湖区文三路 1 号".into(),
        title: "噪音".into(),
        description: "张三说邻居 13900000000 深夜施工".into(),
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap();
    Ticket::accept(intake, "20261123000001".into(), &agent, now)
}

#[test]
fn caller_data_goes_only_to_allowed_subscriptions_and_never_for_confidential_tickets() {
    let open = ticket(false, false);
    let body = WebhookBody::new(&open.event, &open.ticket, false).unwrap();
    let text = String::from_utf8(body.to_bytes().unwrap()).unwrap();
    assert!(!body.has_caller_data());
    for secret in ["张三", "13812345678", "文三路", "深夜施工", "13900000000"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("\"event_type\":\"created\""), "{text}");
    assert!(text.contains(&format!("\"id\":\"{}/events/1\"", open.ticket.id.name())));

    let allowed = WebhookBody::new(&open.event, &open.ticket, true).unwrap();
    let text = String::from_utf8(allowed.to_bytes().unwrap()).unwrap();
    assert!(allowed.has_caller_data());
    assert!(
        text.contains("张三") && text.contains("13812345678"),
        "{text}"
    );
    assert!(
        !text.contains("文三路") && !text.contains("深夜施工"),
        "{text}"
    );

    let confidential = ticket(true, false);
    let body = WebhookBody::new(&confidential.event, &confidential.ticket, true).unwrap();
    let text = String::from_utf8(body.to_bytes().unwrap()).unwrap();
    assert!(!body.has_caller_data());
    assert!(
        !text.contains("张三") && !text.contains("13812345678"),
        "{text}"
    );

    let anonymous = ticket(false, true);
    let body = WebhookBody::new(&anonymous.event, &anonymous.ticket, true).unwrap();
    assert!(!body.has_caller_data());
}

/// `open`'s first event with its kind replaced by `kind` (as stored).
fn event_of(open: &Transition, kind: &str, details: serde_json::Value) -> crate::TicketEvent {
    let mut event = open.event.clone();
    event.kind = crate::EventKind::from_stored(kind, details).unwrap();
    event
}

#[test]
fn staff_free_text_goes_only_where_the_caller_block_may_go() {
    let words = "张三 13812345678 说邻居深夜施工";
    let open = ticket(false, false);
    let redispatch = serde_json::json!({
        "returned_by": "units/unit-a", "arbitration_note": words,
        "lead_unit": "units/unit-b", "co_units": [], "note": words,
        "dispatch_count": 2, "designated": false,
    });
    let events = [
        event_of(
            &open,
            "progress_noted",
            serde_json::json!({ "text": words }),
        ),
        event_of(
            &open,
            "resolved_at_intake",
            serde_json::json!({ "answer": words, "article_ids": ["articles/7"] }),
        ),
        event_of(
            &open,
            "return_requested",
            serde_json::json!({ "unit": "units/unit-a", "reason": words, "legal_basis": words }),
        ),
        event_of(&open, "return_approved", redispatch),
        event_of(
            &open,
            "closed",
            serde_json::json!({ "reason": "withdrawn", "note": words }),
        ),
    ];
    let confidential = ticket(true, false);
    for event in &events {
        for (t, allowed) in [
            (&open, false),
            (&confidential, true),
            (&confidential, false),
        ] {
            let body = WebhookBody::new(event, &t.ticket, allowed).unwrap();
            let text = String::from_utf8(body.to_bytes().unwrap()).unwrap();
            assert!(!text.contains("张三"), "free text leaked: {text}");
        }
        let body = WebhookBody::new(event, &open.ticket, true).unwrap();
        let text = String::from_utf8(body.to_bytes().unwrap()).unwrap();
        assert!(
            text.contains("张三"),
            "an allowed system gets the text: {text}"
        );
    }
    // Kept for an anonymous caller's ticket, the text is still personal
    // data (it may quote whoever called): the delivery is recorded as such.
    let anonymous = ticket(false, true);
    let body = WebhookBody::new(&events[0], &anonymous.ticket, true).unwrap();
    assert!(body.caller.is_none() && body.has_caller_data());
    let created = WebhookBody::new(&anonymous.event, &anonymous.ticket, true).unwrap();
    assert!(!created.has_caller_data(), "no free text, no caller");
    // What is not free text stays: the codes, the units, the articles.
    let stripped = |event: &crate::TicketEvent| {
        WebhookBody::new(event, &open.ticket, false)
            .unwrap()
            .details
    };
    assert_eq!(
        stripped(&events[4]),
        serde_json::json!({ "reason": "withdrawn" })
    );
    assert_eq!(
        stripped(&events[1]),
        serde_json::json!({ "article_ids": ["articles/7"] })
    );
    let approved = stripped(&events[3]);
    assert_eq!(approved["lead_unit"], "units/unit-b", "{approved}");
    assert!(approved.get("note").is_none() && approved.get("arbitration_note").is_none());
}
