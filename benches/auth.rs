#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! What the bearer-token check costs each RPC: `Verifier::verify` of an
//! HS256 token (signature, `exp` / `iss` / `aud`, claims to a principal),
//! as the interceptor runs it before every call. Compared in the README
//! with the time of one `CreateTicket` under load.
//!
//! `cargo bench --bench auth -- --output-format bencher`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::SecretString;

use hotline::{
    auth::{TokenRequest, Verifier, issue_hs256_token},
    config::AuthSettings,
    domain::{Clock, Role, SystemClock},
};

fn verify(c: &mut Criterion) {
    let secret = SecretString::from("a-benchmark-secret-of-at-least-32-bytes!!".to_owned());
    let auth = AuthSettings {
        hs256_secret: Some(secret.clone()),
        ..AuthSettings::default()
    };
    let verifier = Verifier::from_settings(&auth).unwrap();
    let request = |roles: Vec<Role>, unit: Option<&str>| TokenRequest {
        subject: "bench-user".into(),
        roles,
        unit_id: unit.map(str::to_owned),
        region: None,
    };
    let now = SystemClock.now();
    let agent = issue_hs256_token(&auth, &secret, &request(vec![Role::Agent], None), now).unwrap();
    let handler = issue_hs256_token(
        &auth,
        &secret,
        &request(vec![Role::UnitHandler], Some("market-regulation")),
        now,
    )
    .unwrap();
    let mut group = c.benchmark_group("jwt_verify");
    group.bench_function("agent", |b| {
        b.iter(|| verifier.verify(black_box(&agent)).unwrap())
    });
    group.bench_function("unit_handler", |b| {
        b.iter(|| verifier.verify(black_box(&handler)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
