//! `hotline keys add` and `hotline keys rotate` on a SQLite file whose
//! tickets were sealed with the key file's first key.

use hotline::{
    config::PrivacySettings,
    domain::{Clock, SystemClock},
    store::TicketQuery,
};

use super::*;

#[test]
fn keys_add_then_rotate_reseals_every_ticket_and_the_old_key_can_go() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    succeeded(
        hotline(dir.path())
            .args(["demo", "seed", "--database-url", &url])
            .output()
            .unwrap(),
    );
    // The binary's default key file, relative to its working directory.
    let settings = PrivacySettings {
        keys_file: dir.path().join("hotline-pii.keys").display().to_string(),
        ..PrivacySettings::default()
    };
    let first = hotline::privacy::pii_codec(&settings, SystemClock.now()).unwrap();
    let old_id = first.current_key_id().unwrap().to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(report::seed_october_with(&url, first));

    let added = succeeded(hotline(dir.path()).args(["keys", "add"]).output().unwrap());
    let new_id = added
        .strip_prefix("added key ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{added}"))
        .to_owned();
    assert_ne!(new_id, old_id);
    let rotate = || {
        succeeded(
            hotline(dir.path())
                .args([
                    "keys",
                    "rotate",
                    "--batch-size",
                    "2",
                    "--database-url",
                    &url,
                ])
                .output()
                .unwrap(),
        )
    };
    let out = rotate();
    assert!(
        out.starts_with(&format!("3 tickets re-sealed under key {new_id} in ")),
        "{out}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with("; 0 left"), "{out}");
    assert_eq!(
        lines[1],
        format!("0 webhook secrets re-sealed under key {new_id}"),
        "{out}"
    );
    let again = rotate();
    assert!(
        again.starts_with("0 tickets re-sealed"),
        "resumable: {again}"
    );

    // Without the old key every ticket still reads.
    let file = std::fs::read_to_string(&settings.keys_file).unwrap();
    let kept: String = file
        .lines()
        .filter(|l| !l.starts_with(&format!("{old_id} ")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(kept.lines().count() + 1, file.lines().count());
    std::fs::write(&settings.keys_file, kept).unwrap();
    let new_only = hotline::privacy::pii_codec(&settings, SystemClock.now()).unwrap();
    let store = runtime
        .block_on(hotline::store::open_with_pii(&url, 1, false, new_only))
        .unwrap();
    let tickets = runtime
        .block_on(store.list_tickets(&TicketQuery::all(10)))
        .unwrap();
    assert_eq!(tickets.len(), 3);
    assert!(tickets.iter().all(|t| t.intake.address == "幸福路 8 号"));
}
