//! Settings and tokens: `config print-default`, `token`, the layering of file, variables and flags.

use super::*;
use hotline::{
    auth::Verifier,
    config::Settings,
    domain::{Principal, Role},
};

#[test]
fn print_default_config_is_the_commented_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotline(dir.path())
        .args(["config", "print-default"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[database]") && text.contains("# "), "{text}");
    let path = dir.path().join("hotline.toml");
    std::fs::write(&path, &text).unwrap();
    Settings::load_from(Some(&path), []).unwrap();
}

#[test]
fn token_is_signed_with_a_secret_created_on_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotline(dir.path())
        .args([
            "token",
            "--role",
            "unit_handler",
            "--sub",
            "bob",
            "--unit-id",
            "market-regulation",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let secret_file = dir.path().join("hotline-jwt.secret");
    assert!(secret_file.exists(), "secret created on first run");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "secret is private to its owner");
    }
    let mut settings = Settings::default();
    settings.auth.hs256_secret_file = secret_file.display().to_string();
    let verifier = Verifier::from_settings(&settings.auth).unwrap();
    let kid = jsonwebtoken::decode_header(token.trim()).unwrap().kid;
    assert_eq!(kid.as_slice(), verifier.key_ids(), "the current key's kid");
    let principal = verifier.verify(token.trim()).unwrap();
    assert_eq!(
        principal,
        Principal {
            subject: "bob".into(),
            roles: vec![Role::UnitHandler],
            unit: Some(hotline::domain::UnitId::parse("market-regulation").unwrap()),
            region: None,
        }
    );

    let again = hotline(dir.path())
        .args(["token", "--role", "agent", "--sub", "alice"])
        .output()
        .unwrap();
    assert!(again.status.success());
    let verifier = Verifier::from_settings(&settings.auth).unwrap();
    assert!(
        verifier
            .verify(String::from_utf8(again.stdout).unwrap().trim())
            .is_ok(),
        "same secret reused"
    );

    let bad = hotline(dir.path())
        .args(["token", "--role", "root", "--sub", "x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// The command: `HOTLINE_CONFIG` selects the file and is no setting.
#[test]
fn hotline_config_selects_the_file_and_is_not_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/hotline.example.toml"
    );
    let out = hotline(dir.path())
        .env("HOTLINE_CONFIG", example)
        .args(["token", "--role", "agent", "--sub", "x"])
        .output()
        .unwrap();
    let token = succeeded(out);
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");

    let missing = hotline(dir.path())
        .env("HOTLINE_CONFIG", dir.path().join("missing.toml"))
        .args(["token", "--role", "agent", "--sub", "x"])
        .output()
        .unwrap();
    assert!(!missing.status.success(), "a named file must exist");
}

#[test]
fn unknown_settings_fail_naming_the_variable_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = hotline(dir.path())
        .env("HOTLINE_DATABASE__URLL", "sqlite://x.db")
        .args(["token", "--role", "agent", "--sub", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(
            "unknown setting `database.urll` (from environment variable HOTLINE_DATABASE__URLL)"
        ),
        "{err}"
    );

    std::fs::write(dir.path().join("x.toml"), "[database]\nurll = \"x\"\n").unwrap();
    let out = hotline(dir.path())
        .args([
            "--config", "x.toml", "token", "--role", "agent", "--sub", "x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unknown setting `database.urll` (from file x.toml, line 2)"),
        "{err}"
    );
}

/// defaults < file < `HOTLINE_…` < flag, seen through `migrate`, which
/// prints the database it used.
#[test]
fn the_flag_beats_the_variable_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    std::fs::write(
        dir.path().join("hotline.toml"),
        format!("[database]\nurl = \"{}\"\n", url("file.db")),
    )
    .unwrap();
    let migrate = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = hotline(dir.path());
        cmd.args(["--config", "hotline.toml", "migrate"]);
        if let Some(env) = env {
            cmd.env("HOTLINE_DATABASE__URL", env);
        }
        if let Some(flag) = flag {
            cmd.args(["--database-url", flag]);
        }
        succeeded(cmd.output().unwrap())
    };
    assert!(migrate(None, None).contains("file.db"));
    assert!(migrate(Some(&url("env.db")), None).contains("env.db"));
    assert!(migrate(Some(&url("env.db")), Some(&url("flag.db"))).contains("flag.db"));
}

/// With ES256 the server trusts a directory of public keys; `hotline token`
/// signs with the private key of `auth.signing_key_file`, named after it.
#[test]
fn token_signs_with_the_configured_private_key_and_names_it() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("jwt-keys");
    std::fs::create_dir(&public).unwrap();
    for (kid, secret) in [
        (
            "2025-01",
            p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).unwrap(),
        ),
        (
            "2025-06",
            p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()).unwrap(),
        ),
    ] {
        let pem = secret
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        std::fs::write(public.join(format!("{kid}.pem")), pem).unwrap();
        let private = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        std::fs::write(dir.path().join(format!("{kid}.pem")), private.as_bytes()).unwrap();
    }
    let config = format!(
        "[auth]\nalgorithm = \"ES256\"\npublic_keys_dir = \"{}\"\nsigning_key_file = \"{}\"\n",
        public.display(),
        dir.path().join("2025-06.pem").display()
    );
    std::fs::write(dir.path().join("hotline.toml"), &config).unwrap();
    let token = succeeded(
        hotline(dir.path())
            .args([
                "--config",
                "hotline.toml",
                "token",
                "--role",
                "agent",
                "--sub",
                "x",
            ])
            .output()
            .unwrap(),
    );
    let header = jsonwebtoken::decode_header(token.trim()).unwrap();
    assert_eq!(header.kid.as_deref(), Some("2025-06"));
    let settings = Settings::load_from(Some(&dir.path().join("hotline.toml")), []).unwrap();
    let verifier = Verifier::from_settings(&settings.auth).unwrap();
    assert_eq!(verifier.key_ids(), ["2025-01", "2025-06"]);
    verifier.verify(token.trim()).unwrap();

    std::fs::write(
        dir.path().join("hotline.toml"),
        config.lines().take(3).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let refused = hotline(dir.path())
        .args([
            "--config",
            "hotline.toml",
            "token",
            "--role",
            "agent",
            "--sub",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("auth.signing_key_file"), "{err}");
}

#[test]
fn an_empty_hotline_config_means_no_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("HOTLINE_CONFIG", ""),
        ("HOTLINE_CONFIG", "deploy/none.toml"),
    ] {
        let out = hotline(dir.path())
            .env(name, value)
            .args(["token", "--role", "agent", "--sub", "alice"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if value.is_empty() {
            assert!(out.status.success(), "{stderr}");
        } else {
            assert!(
                !out.status.success() && stderr.contains("none.toml"),
                "{stderr}"
            );
        }
    }
}
