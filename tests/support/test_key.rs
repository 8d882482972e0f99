//! An EC P-256 key pair made for one test (nothing to commit or expire),
//! shared by the verifier's unit tests and the gRPC key-rotation tests
//! (included by `#[path]` in both).

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

/// A key pair in PEM.
pub(crate) struct TestKey {
    pub(crate) private_pem: String,
    pub(crate) public_pem: String,
}

impl TestKey {
    pub(crate) fn new() -> Self {
        let secret = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).unwrap();
        Self {
            private_pem: secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            public_pem: secret
                .public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        }
    }

    pub(crate) fn encoding(&self) -> EncodingKey {
        EncodingKey::from_ec_pem(self.private_pem.as_bytes()).unwrap()
    }

    /// The public key as a JWK with `kid`.
    pub(crate) fn jwk(&self, kid: &str) -> serde_json::Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding(), Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        serde_json::to_value(jwk).unwrap()
    }

    /// A valid admin token signed with this key, its header naming `kid`.
    pub(crate) fn token(&self, kid: Option<&str>) -> String {
        #[allow(clippy::disallowed_methods)]
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": "root", "roles": ["admin"], "iss": "hotline", "aud": "hotline",
            "iat": now, "exp": now + 600,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &claims, &self.encoding()).unwrap()
    }
}
