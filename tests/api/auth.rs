//! Authentication and role checks at the gRPC edge.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hotline::{domain::Role, proto::v1 as pb};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{SECRET, authed, complaint, spawn_app, token};

fn claims(exp_offset_secs: i64) -> serde_json::Value {
    #[allow(clippy::disallowed_methods)]
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({
        "sub": "mallory", "roles": ["admin"], "iss": "hotline", "aud": "hotline",
        "iat": now, "exp": now + exp_offset_secs,
    })
}

fn sign(alg: Algorithm, secret: &[u8], claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

async fn list_units_with(app: &crate::helpers::TestApp, token: &str) -> Result<(), tonic::Status> {
    let mut client = app.admin().directory;
    client
        .list_units(authed(token, pb::ListUnitsRequest::default()))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let good = sign(Algorithm::HS256, SECRET.as_bytes(), &claims(600));
    list_units_with(&app, &good).await.unwrap();

    let expired = sign(Algorithm::HS256, SECRET.as_bytes(), &claims(-3600));
    let wrong_key = sign(Algorithm::HS256, b"another-secret-entirely", &claims(600));
    let other_alg = sign(Algorithm::HS512, SECRET.as_bytes(), &claims(600));
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(600).to_string());
    let alg_none = format!("{header}.{payload}.");
    let rs_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let key_confusion = format!("{rs_header}.{payload}.{}", URL_SAFE_NO_PAD.encode(b"sig"));
    let mut wrong_aud = claims(600);
    wrong_aud["aud"] = "someone-else".into();
    let wrong_aud = sign(Algorithm::HS256, SECRET.as_bytes(), &wrong_aud);
    let mut wrong_iss = claims(600);
    wrong_iss["iss"] = "evil".into();
    let wrong_iss = sign(Algorithm::HS256, SECRET.as_bytes(), &wrong_iss);

    for (what, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("HS512 instead of the pinned HS256", other_alg),
        ("alg none", alg_none),
        ("RS256 header on an HS256 server", key_confusion),
        ("wrong audience", wrong_aud),
        ("wrong issuer", wrong_iss),
        ("garbage", "not-a-jwt".to_owned()),
    ] {
        let err = list_units_with(&app, &token).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{what}: {err:?}");
    }

    let mut client = app.admin().directory;
    let err = client
        .list_units(pb::ListUnitsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "no token at all");
}

/// `nbf` and `iat` are checked with `auth.leeway_secs`, like `exp`: a
/// token not yet valid, or issued by a clock ahead of ours, is refused
/// unless the difference is within the leeway.
#[tokio::test]
async fn tokens_not_yet_valid_or_issued_in_the_future_are_unauthenticated() {
    let app = crate::helpers::spawn_app_configured(|s| s.auth.leeway_secs = 60).await;
    let with = |edit: &dyn Fn(&mut serde_json::Value, i64)| {
        let mut c = claims(3600);
        let now = c["iat"].as_i64().unwrap();
        edit(&mut c, now);
        sign(Algorithm::HS256, SECRET.as_bytes(), &c)
    };
    for (what, token) in [
        (
            "nbf in an hour",
            with(&|c, now| c["nbf"] = (now + 3600).into()),
        ),
        (
            "nbf beyond the leeway",
            with(&|c, now| c["nbf"] = (now + 120).into()),
        ),
        (
            "iat in an hour",
            with(&|c, now| c["iat"] = (now + 3600).into()),
        ),
        (
            "iat beyond the leeway",
            with(&|c, now| c["iat"] = (now + 120).into()),
        ),
    ] {
        let err = list_units_with(&app, &token).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{what}: {err:?}");
    }
    for (what, token) in [
        ("nbf passed", with(&|c, now| c["nbf"] = (now - 10).into())),
        (
            "nbf within the leeway",
            with(&|c, now| c["nbf"] = (now + 20).into()),
        ),
        (
            "iat within the leeway",
            with(&|c, now| c["iat"] = (now + 20).into()),
        ),
    ] {
        let result = list_units_with(&app, &token).await;
        assert!(result.is_ok(), "{what}: {result:?}");
    }
}

#[tokio::test]
async fn claims_must_fit_the_role() {
    let app = spawn_app().await;
    let mut unit_without_unit = claims(600);
    unit_without_unit["roles"] = serde_json::json!(["unit_handler"]);
    let t = sign(Algorithm::HS256, SECRET.as_bytes(), &unit_without_unit);
    assert_eq!(
        list_units_with(&app, &t).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut reserved = claims(600);
    reserved["sub"] = "system:sweeper".into();
    let t = sign(Algorithm::HS256, SECRET.as_bytes(), &reserved);
    assert_eq!(
        list_units_with(&app, &t).await.unwrap_err().code(),
        Code::Unauthenticated,
        "no token may pose as the server's own actors"
    );
    let mut unknown_role = claims(600);
    unknown_role["roles"] = serde_json::json!(["root"]);
    let t = sign(Algorithm::HS256, SECRET.as_bytes(), &unknown_role);
    assert_eq!(
        list_units_with(&app, &t).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test]
async fn wrong_role_is_permission_denied() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut unit = app.unit_user("market-regulation");
    let err = unit
        .tickets
        .create_ticket(authed(
            &unit.token,
            pb::CreateTicketRequest {
                ticket: Some(complaint()),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    let mut agent = app.agent();
    let t = agent.create(complaint()).await;
    agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap();
    let err = agent.sign(&t.name).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "agents do not sign for units"
    );

    let supervisor = token(&app.settings, "sup", Role::Supervisor, None, Some("3301"));
    let mut sup = app.as_token(supervisor);
    let err = sup
        .directory
        .create_unit(authed(&sup.token, pb::CreateUnitRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "only admins change the directory"
    );
}

#[tokio::test]
async fn health_and_reflection_need_no_token() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    let status = health
        .check(HealthCheckRequest {
            service: "hotline.v1.TicketService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "hotline.v1.TicketService",
        "hotline.v1.DispatchService",
        "hotline.v1.DirectoryService",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}
