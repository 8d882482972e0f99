//! The `hotline` binary's offline commands, run as a user runs them: the
//! built binary in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::process::Command;

mod backup;
mod bench;
mod catalogue;
mod config;
mod faults;
mod keys;
mod report;
mod traces;

/// The binary in `dir`, without the caller's `HOTLINE_…` variables: every
/// one of them is a setting (or `HOTLINE_CONFIG`) and would change the run.
pub(crate) fn hotline(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
    cmd.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HOTLINE_") {
            cmd.env_remove(name);
        }
    }
    cmd
}
pub(crate) fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("hotline.db").display())
}

/// Stdout of a run that must have succeeded.
pub(crate) fn succeeded(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
