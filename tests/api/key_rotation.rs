//! JWT key rotation at the gRPC edge: several ES256 keys chosen by `kid`,
//! from a key directory or a JWK Set, reloaded while the server runs.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use hotline::{
    auth::Verifier,
    config::{JwtAlgorithm, Settings},
    proto::v1::{self as pb, directory_service_client::DirectoryServiceClient},
    store::testing::TestBackend,
};
use tonic::Code;

use crate::helpers::{TestApp, authed, spawn_app_verified};
use crate::test_key::TestKey;

/// A server verifying ES256 tokens with the keys `configure` points at,
/// re-read every second.
async fn spawn_es256(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let store = TestBackend::from_env().fresh_store().await;
    spawn_app_verified(
        store,
        |settings| {
            settings.auth.algorithm = JwtAlgorithm::ES256;
            settings.auth.keys_reload_secs = 1;
            configure(settings);
        },
        |settings| {
            Verifier::from_settings(&settings.auth)
                .unwrap()
                .with_reload_task()
        },
    )
    .await
}

async fn call(app: &TestApp, token: &str) -> Result<(), tonic::Status> {
    DirectoryServiceClient::new(app.channel.clone())
        .list_units(authed(token, pb::ListUnitsRequest::default()))
        .await
        .map(|_| ())
}

/// Waits (up to ten reload intervals) until `token` is accepted, or
/// refused as UNAUTHENTICATED when `accepted` is false.
async fn eventually(app: &TestApp, token: &str, accepted: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let result = call(app, token).await;
        match (&result, accepted) {
            (Ok(()), true) => return,
            (Err(status), _) if status.code() != Code::Unauthenticated => {
                panic!("{status:?}")
            }
            (Err(_), false) => return,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "still {result:?} after 10 s, wanted accepted = {accepted}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn path_setting(path: &Path) -> Option<String> {
    Some(path.display().to_string())
}

#[tokio::test]
async fn tokens_of_either_key_verify_and_an_unknown_kid_is_unauthenticated() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, stranger) = (TestKey::new(), TestKey::new(), TestKey::new());
    std::fs::write(dir.path().join("2025-01.pem"), &old.public_pem).unwrap();
    std::fs::write(dir.path().join("2025-06.pem"), &new.public_pem).unwrap();
    let app = spawn_es256(|s| s.auth.public_keys_dir = path_setting(dir.path())).await;

    call(&app, &old.token(Some("2025-01"))).await.unwrap();
    call(&app, &new.token(Some("2025-06"))).await.unwrap();

    let unknown = call(&app, &stranger.token(Some("2025-07")))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert!(
        unknown
            .message()
            .contains("unknown signing key id (kid) \"2025-07\""),
        "{unknown:?}"
    );
    let kidless = call(&app, &new.token(None)).await.unwrap_err();
    assert_eq!(kidless.code(), Code::Unauthenticated);
    assert!(kidless.message().contains("no key id (kid)"), "{kidless:?}");
    let forged = call(&app, &stranger.token(Some("2025-06")))
        .await
        .unwrap_err();
    assert_eq!(
        forged.code(),
        Code::Unauthenticated,
        "a known kid on another key's signature"
    );
}

#[tokio::test]
async fn a_key_added_to_the_directory_is_trusted_and_a_removed_one_is_not_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (TestKey::new(), TestKey::new());
    std::fs::write(dir.path().join("old.pem"), &old.public_pem).unwrap();
    let app = spawn_es256(|s| s.auth.public_keys_dir = path_setting(dir.path())).await;
    let (old_token, new_token) = (old.token(Some("old")), new.token(Some("new")));
    call(&app, &old_token).await.unwrap();
    let err = call(&app, &new_token).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "not trusted yet");

    // Step 1 of a rotation: the new public key next to the old one.
    std::fs::write(dir.path().join("new.pem"), &new.public_pem).unwrap();
    eventually(&app, &new_token, true).await;
    call(&app, &old_token)
        .await
        .expect("tokens in flight keep working");

    // Last step: the old key goes.
    std::fs::remove_file(dir.path().join("old.pem")).unwrap();
    eventually(&app, &old_token, false).await;
    call(&app, &new_token).await.unwrap();
}

#[tokio::test]
async fn a_replaced_jwks_file_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    // As an identity provider's JWKS is fetched: written aside, renamed over.
    let publish = |keys: serde_json::Value| {
        let tmp = dir.path().join(".jwks.json.tmp");
        std::fs::write(&tmp, serde_json::json!({ "keys": keys }).to_string()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    };
    let (a, b) = (TestKey::new(), TestKey::new());
    publish(serde_json::json!([a.jwk("a")]));
    let app = spawn_es256(|s| s.auth.jwks_file = path_setting(&path)).await;
    call(&app, &a.token(Some("a"))).await.unwrap();

    publish(serde_json::json!([a.jwk("a"), b.jwk("b")]));
    eventually(&app, &b.token(Some("b")), true).await;
    call(&app, &a.token(Some("a"))).await.unwrap();

    publish(serde_json::json!([b.jwk("b")]));
    eventually(&app, &a.token(Some("a")), false).await;
    call(&app, &b.token(Some("b"))).await.unwrap();
}
