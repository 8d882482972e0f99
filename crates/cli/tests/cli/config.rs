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
    let principal = Verifier::from_settings(&settings.auth)
        .unwrap()
        .verify(token.trim())
        .unwrap();
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
