//! The keys that seal caller data at rest, from the settings: the keyring
//! given in `privacy.keys` (a secret store's environment variable) or the
//! file `privacy.keys_file`, created with random keys on first use as the
//! HS256 secret file is, so the embedded default needs no setup.
//!
//! The keyring's format and the cryptography live in the store
//! (`hotline_store::PiiKeyring`, `PiiCodec`); this module only finds the
//! text and writes new keys.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::{
    config::PrivacySettings,
    store::{PiiCodec, PiiKeyring, new_index_line, new_key_line},
};

/// What a new keyring file says about itself.
const FILE_HEADER: &str = "\
# hotline caller-data keys (privacy.keys_file): keep secret, back up apart
# from the database. One \"<id> <base64 of 32 bytes>\" line per data key (the
# greatest id seals new writes unless privacy.current_key names another) and
# the blind-index key \"index\". Add keys with `hotline keys add`.
";

/// The codec of the configured keys, creating the key file with random
/// keys when neither `privacy.keys` nor the file exists.
pub fn pii_codec(settings: &PrivacySettings, now: DateTime<Utc>) -> anyhow::Result<PiiCodec> {
    let text = match &settings.keys {
        Some(keys) => keys.expose_secret().replace(';', "\n"),
        None => {
            let path = Path::new(&settings.keys_file);
            if !path.exists() {
                create_key_file(path, now)?;
            }
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
    };
    let where_from = match settings.keys {
        Some(_) => "privacy.keys".to_owned(),
        None => settings.keys_file.clone(),
    };
    let ring = PiiKeyring::parse(&text, settings.current_key.as_deref())
        .with_context(|| format!("in {where_from}"))?;
    Ok(PiiCodec::new(ring))
}

fn create_key_file(path: &Path, now: DateTime<Utc>) -> anyhow::Result<()> {
    let text = format!(
        "{FILE_HEADER}{}\n{}\n",
        new_index_line(),
        new_key_line(&stamp(now))
    );
    crate::auth::write_private(path, &text)
        .with_context(|| format!("creating {}", path.display()))?;
    tracing::info!(path = %path.display(), "created a new keyring for caller data");
    Ok(())
}

/// Appends a new random data key to `privacy.keys_file` and returns its
/// id. It becomes current (the greatest id) for every process that loads
/// the file after this; `hotline keys rotate` then re-seals the rest.
pub fn add_key(settings: &PrivacySettings, now: DateTime<Utc>) -> anyhow::Result<String> {
    anyhow::ensure!(
        settings.keys.is_none(),
        "the keys come from privacy.keys (HOTLINE_PRIVACY__KEYS): add the key in the secret store"
    );
    let path = Path::new(&settings.keys_file);
    // The current keyring first, so a broken file is not appended to.
    pii_codec(settings, now)?;
    let mut text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // Within the same second as an existing key: `-2`, `-3`… sort after it.
    let taken = |id: &str| {
        text.lines()
            .any(|l| l.split_whitespace().next() == Some(id))
    };
    let mut stamp = stamp(now);
    let base = stamp.clone();
    for n in 2.. {
        if !taken(&format!("k{stamp}")) {
            break;
        }
        stamp = format!("{base}-{n}");
    }
    let line = new_key_line(&stamp);
    let id = format!("k{stamp}");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    // Through a new file renamed over the old one: never half a keyring.
    let staged = path.with_extension("new");
    let _ = std::fs::remove_file(&staged);
    crate::auth::write_private(&staged, &text)
        .with_context(|| format!("writing {}", staged.display()))?;
    std::fs::rename(&staged, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(id)
}

/// A key id stamp: UTC to the second, sorting by time.
fn stamp(now: DateTime<Utc>) -> String {
    now.format("%Y%m%dT%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use secrecy::SecretString;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    #[test]
    fn the_first_use_creates_a_private_keyring_and_later_uses_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let settings = PrivacySettings {
            keys_file: dir.path().join("pii.keys").display().to_string(),
            ..PrivacySettings::default()
        };
        let first = pii_codec(&settings, at(8)).unwrap();
        assert_eq!(first.current_key_id(), Some("k20261201T080000"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&settings.keys_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = pii_codec(&settings, at(9)).unwrap();
        assert_eq!(
            again.current_key_id(),
            Some("k20261201T080000"),
            "not recreated"
        );

        let added = add_key(&settings, at(10)).unwrap();
        assert_eq!(added, "k20261201T100000");
        let same_second = add_key(&settings, at(10)).unwrap();
        assert_eq!(
            same_second, "k20261201T100000-2",
            "ids stay unique and ordered"
        );
        assert_eq!(
            pii_codec(&settings, at(10)).unwrap().current_key_id(),
            Some("k20261201T100000-2")
        );
        let pinned = PrivacySettings {
            current_key: Some("k20261201T080000".into()),
            ..settings
        };
        assert_eq!(
            pii_codec(&pinned, at(11)).unwrap().current_key_id(),
            Some("k20261201T080000")
        );
    }

    #[test]
    fn keys_from_the_secret_store_win_and_cannot_be_added_to() {
        let dir = tempfile::tempdir().unwrap();
        let keys = format!("{};{}", new_index_line(), new_key_line("1"));
        let settings = PrivacySettings {
            keys_file: dir.path().join("unused.keys").display().to_string(),
            keys: Some(SecretString::from(keys)),
            ..PrivacySettings::default()
        };
        assert_eq!(
            pii_codec(&settings, at(8)).unwrap().current_key_id(),
            Some("k1")
        );
        assert!(!dir.path().join("unused.keys").exists());
        assert!(add_key(&settings, at(9)).is_err());
        let broken = PrivacySettings {
            keys: Some(SecretString::from("k1 nonsense".to_owned())),
            ..settings
        };
        let err = format!("{:#}", pii_codec(&broken, at(8)).unwrap_err());
        assert!(err.contains("privacy.keys"), "{err}");
        assert!(!err.contains("nonsense"), "a key is never quoted: {err}");
    }
}
