//! Keys by `kid`, reloading, and the signer of dev tokens.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::path::Path;

use jsonwebtoken::{EncodingKey, Header};
use secrecy::SecretString;

use super::*;

#[path = "../../tests/support/test_key.rs"]
mod test_key;
use test_key::TestKey;

/// A verifier of HS256 tokens under a minimal secret, the secret, and a
/// token it issued to the agent alice.
fn hs256_verifier() -> (SecretString, Verifier, String) {
    let secret = SecretString::from("s".repeat(MIN_SECRET_BYTES));
    let auth = AuthSettings {
        hs256_secret: Some(secret.clone()),
        ..AuthSettings::default()
    };
    let verifier = Verifier::from_settings(&auth).unwrap();
    let request = TokenRequest {
        subject: "alice".into(),
        roles: vec![Role::Agent],
        unit_id: None,
        region: None,
    };
    #[allow(clippy::disallowed_methods)]
    let token = issue_hs256_token(&auth, &secret, &request, chrono::Utc::now()).unwrap();
    (secret, verifier, token)
}

fn claims() -> Claims {
    #[allow(clippy::disallowed_methods)]
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "root".into(),
        roles: vec!["admin".into()],
        unit_id: None,
        region: None,
        iss: "hotline".into(),
        aud: "hotline".into(),
        exp: now + 600,
        iat: now,
    }
}

fn es256(adjust: impl FnOnce(&mut AuthSettings)) -> AuthSettings {
    let mut auth = AuthSettings {
        algorithm: JwtAlgorithm::ES256,
        ..AuthSettings::default()
    };
    adjust(&mut auth);
    auth
}

fn dir_setting(dir: &Path) -> Option<String> {
    Some(dir.display().to_string())
}

#[test]
fn short_or_empty_secrets_are_refused() {
    for secret in ["", "   ", "too-short-for-hmac"] {
        let auth = AuthSettings {
            hs256_secret: Some(SecretString::from(secret)),
            ..AuthSettings::default()
        };
        assert!(Verifier::from_settings(&auth).is_err(), "{secret:?}");
    }
    let auth = AuthSettings {
        hs256_secret: Some(SecretString::from("x".repeat(MIN_SECRET_BYTES))),
        ..AuthSettings::default()
    };
    assert!(Verifier::from_settings(&auth).is_ok());
}

#[test]
fn hs256_tokens_name_the_secret_and_kidless_ones_still_verify() {
    let (secret, verifier, token) = hs256_verifier();
    let kid = hs256_kid(&secret);
    assert_eq!(kid.len(), 8);
    assert_eq!(verifier.key_ids(), vec![kid.clone()]);

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
    verifier.verify(&token).unwrap();

    let key = EncodingKey::from_secret(b"ssssssssssssssssssssssssssssssss");
    let kidless = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(), &key).unwrap();
    verifier
        .verify(&kidless)
        .expect("tokens from before kids verify");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("an-old-secret".into());
    let foreign = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
    assert!(matches!(
        verifier.verify(&foreign),
        Err(AuthError::UnknownKey(k)) if k == "an-old-secret"
    ));
}

#[test]
fn a_directory_of_keys_picks_the_key_by_kid() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, stranger) = (TestKey::new(), TestKey::new(), TestKey::new());
    std::fs::write(dir.path().join("2025-01.pem"), &old.public_pem).unwrap();
    std::fs::write(dir.path().join("2025-06.pem"), &new.public_pem).unwrap();
    std::fs::write(dir.path().join("README"), "not a key").unwrap();
    std::fs::write(dir.path().join(".2025-07.pem.tmp"), "half written").unwrap();
    let verifier =
        Verifier::from_settings(&es256(|a| a.public_keys_dir = dir_setting(dir.path()))).unwrap();
    assert_eq!(verifier.key_ids(), ["2025-01", "2025-06"]);

    verifier.verify(&old.token(Some("2025-01"))).unwrap();
    verifier.verify(&new.token(Some("2025-06"))).unwrap();
    let unknown = verifier
        .verify(&stranger.token(Some("2025-07")))
        .unwrap_err();
    assert!(matches!(&unknown, AuthError::UnknownKey(k) if k == "2025-07"));
    assert!(
        unknown
            .to_string()
            .contains("unknown signing key id (kid) \"2025-07\"")
    );
    assert!(matches!(
        verifier.verify(&new.token(None)),
        Err(AuthError::KeyIdRequired(2))
    ));
    assert!(
        matches!(
            verifier.verify(&old.token(Some("2025-06"))),
            Err(AuthError::Invalid(_))
        ),
        "a kid does not vouch for a signature"
    );
}

#[test]
fn a_jwks_file_keeps_the_keys_for_the_configured_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (TestKey::new(), TestKey::new());
    let mut encryption = a.jwk("enc");
    encryption["use"] = "enc".into();
    let set = serde_json::json!({"keys": [
        a.jwk("a"),
        b.jwk("b"),
        encryption,
        {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB", "alg": "RS256"},
        {"kty": "future-kind", "kid": "x", "alg": "ML-DSA-65"},
    ]});
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, set.to_string()).unwrap();
    let verifier = Verifier::from_settings(&es256(|a| a.jwks_file = dir_setting(&path))).unwrap();
    assert_eq!(verifier.key_ids(), ["a", "b"]);
    verifier.verify(&a.token(Some("a"))).unwrap();
    verifier.verify(&b.token(Some("b"))).unwrap();
    assert!(matches!(
        verifier.verify(&a.token(Some("enc"))),
        Err(AuthError::UnknownKey(_))
    ));

    std::fs::write(&path, r#"{"keys": []}"#).unwrap();
    let err = Verifier::from_settings(&es256(|a| a.jwks_file = dir_setting(&path))).unwrap_err();
    assert!(format!("{err:#}").contains("holds no ES256 key"), "{err:#}");
    let mut kidless = a.jwk("a");
    kidless.as_object_mut().unwrap().remove("kid");
    let set = serde_json::json!({"keys": [kidless, b.jwk("b")]});
    std::fs::write(&path, set.to_string()).unwrap();
    let err = Verifier::from_settings(&es256(|a| a.jwks_file = dir_setting(&path))).unwrap_err();
    assert!(
        format!("{err:#}").contains("every key needs a kid"),
        "{err:#}"
    );
}

#[test]
fn one_public_key_file_takes_any_kid_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::new();
    let path = dir.path().join("idp.pem");
    std::fs::write(&path, &key.public_pem).unwrap();
    let verifier =
        Verifier::from_settings(&es256(|a| a.public_key_file = dir_setting(&path))).unwrap();
    verifier.verify(&key.token(None)).unwrap();
    verifier
        .verify(&key.token(Some("whatever-the-idp-says")))
        .unwrap();
    assert!(verifier.verify(&TestKey::new().token(None)).is_err());
}

#[test]
fn changed_key_files_are_reloaded_and_bad_ones_leave_the_keys_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (TestKey::new(), TestKey::new());
    std::fs::write(dir.path().join("old.pem"), &old.public_pem).unwrap();
    let verifier =
        Verifier::from_settings(&es256(|a| a.public_keys_dir = dir_setting(dir.path()))).unwrap();
    assert!(!verifier.reload_keys().unwrap(), "nothing changed");

    std::fs::write(dir.path().join("new.pem"), &new.public_pem).unwrap();
    assert!(verifier.reload_keys().unwrap());
    let clone = verifier.clone();
    clone.verify(&new.token(Some("new"))).unwrap();
    clone.verify(&old.token(Some("old"))).unwrap();

    std::fs::remove_file(dir.path().join("old.pem")).unwrap();
    assert!(verifier.reload_keys().unwrap());
    assert!(matches!(
        clone.verify(&old.token(Some("old"))),
        Err(AuthError::UnknownKey(_))
    ));
    clone
        .verify(&new.token(None))
        .expect("one key left: a kid-less token is unambiguous");

    std::fs::write(
        dir.path().join("broken.pem"),
        "-----BEGIN PUBLIC KEY-----\n",
    )
    .unwrap();
    let err = verifier.reload_keys().unwrap_err();
    assert!(format!("{err:#}").contains("broken.pem"), "{err:#}");
    assert_eq!(verifier.key_ids(), ["new"], "the keys in force stay");
    assert!(
        !verifier.reload_keys().unwrap(),
        "not retried until changed"
    );

    std::fs::remove_file(dir.path().join("broken.pem")).unwrap();
    std::fs::remove_file(dir.path().join("new.pem")).unwrap();
    assert!(verifier.reload_keys().is_err(), "an empty directory");
    assert_eq!(verifier.key_ids(), ["new"]);

    let moved = dir.path().with_extension("moved");
    std::fs::rename(dir.path(), &moved).unwrap();
    assert!(verifier.reload_keys().is_err(), "the directory is gone");
    assert!(!verifier.reload_keys().unwrap(), "reported once");
    std::fs::write(moved.join("back.pem"), &old.public_pem).unwrap();
    std::fs::rename(&moved, dir.path()).unwrap();
    assert!(verifier.reload_keys().unwrap(), "and read when it is back");
    assert_eq!(verifier.key_ids(), ["back"]);
}

#[test]
fn key_sources_must_fit_the_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let err = |auth: &AuthSettings| format!("{:#}", Verifier::from_settings(auth).unwrap_err());
    assert!(err(&es256(|_| {})).contains("need the verification keys"));
    let both = es256(|a| {
        a.public_keys_dir = dir_setting(dir.path());
        a.jwks_file = Some("jwks.json".into());
    });
    assert!(err(&both).contains("only one of auth.public_keys_dir and auth.jwks_file"));
    let hs = AuthSettings {
        hs256_secret: Some(SecretString::from("s".repeat(MIN_SECRET_BYTES))),
        public_keys_dir: dir_setting(dir.path()),
        ..AuthSettings::default()
    };
    assert!(err(&hs).contains("but auth.algorithm is HS256"));
}

#[test]
fn the_signer_names_its_key_after_the_file_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::new();
    std::fs::create_dir(dir.path().join("public")).unwrap();
    std::fs::write(dir.path().join("public/2025-06.pem"), &key.public_pem).unwrap();
    std::fs::write(dir.path().join("2025-06.pem"), &key.private_pem).unwrap();
    let mut auth = es256(|a| {
        a.public_keys_dir = dir_setting(&dir.path().join("public"));
        a.signing_key_file = dir_setting(&dir.path().join("2025-06.pem"));
    });
    let signer = Signer::from_settings(&auth).unwrap();
    assert_eq!(signer.kid(), "2025-06");
    let request = TokenRequest {
        subject: "root".into(),
        roles: vec![Role::Admin],
        unit_id: None,
        region: None,
    };
    #[allow(clippy::disallowed_methods)]
    let token = signer.issue(&auth, &request, chrono::Utc::now()).unwrap();
    Verifier::from_settings(&auth)
        .unwrap()
        .verify(&token)
        .unwrap();

    auth.signing_kid = Some("june".into());
    assert_eq!(Signer::from_settings(&auth).unwrap().kid(), "june");
    auth.signing_key_file = None;
    let err = Signer::from_settings(&auth).unwrap_err().to_string();
    assert!(err.contains("auth.signing_key_file"), "{err}");
}

#[test]
fn iat_may_be_ahead_by_the_leeway_and_no_more() {
    let now = 1_800_000_000;
    assert!(
        check_issued_at(1_799_000_000, now, 30).is_ok(),
        "issued earlier"
    );
    assert!(
        check_issued_at(1_800_000_030, now, 30).is_ok(),
        "at the leeway"
    );
    let err = check_issued_at(1_800_000_031, now, 30).unwrap_err();
    assert!(err.to_string().contains("issued in the future"), "{err}");
    assert!(check_issued_at(i64::MAX, now, 30).is_err());
    assert!(
        check_issued_at(i64::MAX, u64::MAX, u64::MAX).is_ok(),
        "no overflow"
    );
    assert!(check_issued_at(i64::MIN, now, 0).is_ok());
}

/// An ES256 token of `claims` signed with `key`, its header naming `kid`.
fn signed(key: &TestKey, kid: &str, claims: &Claims) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding()).unwrap()
}

#[test]
fn a_remembered_token_is_refused_once_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let key = TestKey::new();
    std::fs::write(dir.path().join("k.pem"), &key.public_pem).unwrap();
    let verifier = Verifier::from_settings(&es256(|a| {
        a.public_keys_dir = dir_setting(dir.path());
        a.leeway_secs = 0;
    }))
    .unwrap();
    let mut short = claims();
    short.exp = short.iat + 1;
    let token = signed(&key, "k", &short);
    verifier.verify(&token).unwrap();
    assert_eq!(verifier.shared.current().verified.len(), 1, "remembered");
    verifier.verify(&token).expect("answered from memory");
    // Past `exp` (with no leeway), the token is verified again and refused.
    while jsonwebtoken::get_current_timestamp() <= u64::try_from(short.exp).unwrap() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let err = verifier.verify(&token).unwrap_err();
    assert!(err.to_string().contains("ExpiredSignature"), "{err}");
    assert_eq!(verifier.shared.current().verified.len(), 0);
}

#[test]
fn a_key_reload_forgets_the_tokens_verified_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (TestKey::new(), TestKey::new());
    std::fs::write(dir.path().join("old.pem"), &old.public_pem).unwrap();
    std::fs::write(dir.path().join("new.pem"), &new.public_pem).unwrap();
    let verifier =
        Verifier::from_settings(&es256(|a| a.public_keys_dir = dir_setting(dir.path()))).unwrap();
    let clone = verifier.clone();
    let (by_old, by_new) = (
        signed(&old, "old", &claims()),
        signed(&new, "new", &claims()),
    );
    clone.verify(&by_old).unwrap();
    clone.verify(&by_new).unwrap();

    // The identical token strings, after the old key is withdrawn.
    std::fs::remove_file(dir.path().join("old.pem")).unwrap();
    assert!(verifier.reload_keys().unwrap());
    assert!(matches!(
        clone.verify(&by_old),
        Err(AuthError::UnknownKey(_))
    ));
    clone
        .verify(&by_new)
        .expect("a kept key's tokens still verify");
    assert_eq!(clone.shared.current().verified.len(), 1, "only the new one");
}

#[test]
fn a_remembered_token_does_not_vouch_for_a_changed_one() {
    let (_, verifier, token) = hs256_verifier();
    assert_eq!(verifier.verify(&token).unwrap().subject, "alice");
    // Same header and claims, another signature; and the claims of another
    // subject under the remembered signature.
    let (head, sig) = token.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &sig[1..]);
    assert!(verifier.verify(&forged).is_err());
    let (header, _) = head.split_once('.').unwrap();
    let mut other = claims();
    other.sub = "mallory".into();
    let body = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&other).unwrap(),
    );
    assert!(verifier.verify(&format!("{header}.{body}.{sig}")).is_err());
    assert_eq!(verifier.shared.current().verified.len(), 1);
}
