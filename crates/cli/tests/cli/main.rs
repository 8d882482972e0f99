//! The `hotline` binary's offline commands, run as a user runs them: the
//! built binary in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::process::Command;

mod backup;
mod bench;
mod catalogue;
mod config;
mod faults;
mod import;
mod import_crash;
mod keys;
mod knowledge;
mod model;
mod report;
mod shutdown;
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

/// `hotline serve` in `dir` on free ports (gRPC and admin), logging JSON,
/// with `envs` on top; waits until it listens and returns the child and
/// its gRPC address. The rest of its log goes to `log` (or is drained, so
/// the server never blocks on a full pipe).
pub(crate) fn serve(
    dir: &std::path::Path,
    envs: &[(&str, &str)],
    log: Option<std::path::PathBuf>,
) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::{BufRead, Write};
    let mut child = hotline(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HOTLINE_ADMIN__LISTEN", "127.0.0.1:0")
        .env("HOTLINE_LOG__FORMAT", "json")
        .envs(envs.iter().copied())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve exited before it listened")
            .unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        if entry["fields"]["message"] == "hotline serving gRPC" {
            break entry["fields"]["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || {
        let mut file = log.map(|path| std::fs::File::create(path).unwrap());
        for line in lines.map_while(Result::ok) {
            if let Some(file) = &mut file {
                let _ = writeln!(file, "{line}");
            }
        }
    });
    (child, addr)
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
