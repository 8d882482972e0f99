//! Per-principal quotas: one principal over its rate or stream cap gets
//! RESOURCE_EXHAUSTED with `QuotaFailure` and `RetryInfo`, while the others
//! are still served.

use std::time::Duration;

use hotline::{domain::Role, proto::v1 as pb};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::helpers::{As, authed, spawn_app_configured, token};

async fn list_regions(who: &mut As) -> Result<(), Status> {
    who.directory
        .list_regions(authed(&who.token, pb::ListRegionsRequest::default()))
        .await
        .map(drop)
}

async fn watch(who: &mut As) -> Result<tonic::Streaming<pb::WatchTicketsResponse>, Status> {
    who.tickets
        .watch_tickets(authed(&who.token, pb::WatchTicketsRequest::default()))
        .await
        .map(tonic::Response::into_inner)
}

/// Checks the details of a quota refusal of `subject`.
fn assert_quota_failure(status: &Status, subject: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let details = status.get_error_details();
    let retry = details.retry_info().expect("RetryInfo");
    let delay = retry.retry_delay.expect("retry delay");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_secs(5),
        "{delay:?}"
    );
    let violations = &details.quota_failure().expect("QuotaFailure").violations;
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].subject, format!("principal:{subject}"));
}

#[tokio::test]
async fn a_principal_over_its_rate_is_refused_while_another_is_served() {
    let app = spawn_app_configured(|s| {
        s.quota.requests_per_second = 1;
        s.quota.burst = 3;
    })
    .await;
    let mut alice = app.agent();
    let mut bob = app.as_token(token(&app.settings, "agent-bob", Role::Agent, None, None));

    let mut refused = None;
    for _ in 0..20 {
        if let Err(status) = list_regions(&mut alice).await {
            refused = Some(status);
            break;
        }
    }
    let refused = refused.expect("20 calls at 1 per second were all served");
    assert_quota_failure(&refused, "agent-alice");
    let delay = refused
        .get_error_details()
        .retry_info()
        .unwrap()
        .retry_delay;
    assert!(delay.unwrap() <= Duration::from_secs(1), "{delay:?}");

    list_regions(&mut bob).await.unwrap();
    // After the advertised delay, alice is served again.
    tokio::time::sleep(delay.unwrap()).await;
    list_regions(&mut alice).await.unwrap();
}

#[tokio::test]
async fn a_principal_cannot_open_more_streams_than_its_cap() {
    let app = spawn_app_configured(|s| s.quota.max_streams_per_principal = 2).await;
    let mut alice = app.agent();
    let mut bob = app.as_token(token(&app.settings, "agent-bob", Role::Agent, None, None));

    let first = watch(&mut alice).await.unwrap();
    let _second = watch(&mut alice).await.unwrap();
    let refused = watch(&mut alice)
        .await
        .expect_err("a third stream was opened");
    assert_quota_failure(&refused, "agent-alice");
    let _bobs = watch(&mut bob).await.unwrap();
    // Unary calls are not streams.
    list_regions(&mut alice).await.unwrap();

    // Closing a stream gives its place back once the server sees it go.
    drop(first);
    let mut waited = Duration::ZERO;
    while let Err(status) = watch(&mut alice).await {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(
            waited < Duration::from_secs(5),
            "the closed stream still counts"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
}
