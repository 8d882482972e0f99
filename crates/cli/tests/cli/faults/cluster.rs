//! The test's own PostgreSQL cluster, and `hotline serve` on it.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command},
};

/// A private PostgreSQL cluster.
pub(super) struct Cluster {
    /// Removed on drop (after the cluster stops).
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// `initdb` and start.
    pub(super) fn start() -> Self {
        let bin = postgres_bin();
        let as_postgres = running_as_root();
        let dir = if as_postgres {
            let dir = tempfile::Builder::new()
                .prefix("hotline-faults-")
                .tempdir_in("/tmp")
                .unwrap();
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
            dir
        } else {
            tempfile::Builder::new()
                .prefix("hotline-faults-")
                .tempdir()
                .unwrap()
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            dir,
            bin,
            port,
            as_postgres,
        };
        run(cluster
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(cluster.data()));
        cluster.pg_ctl_start();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A cluster program, as the `postgres` user where the test is root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    pub(super) fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options]));
    }

    /// A clean restart: PostgreSQL ends every session (SQLSTATE 57P01),
    /// checkpoints and starts again.
    pub(super) fn restart(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .args(["restart", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-o", &options]));
    }

    /// A crash: no checkpoint, no goodbye to the clients.
    pub(super) fn crash(&self) {
        run(self
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(self.data()));
    }

    pub(super) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D"])
            .arg(self.data())
            .output();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`.
fn postgres_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin",
    )
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Runs a command that must succeed.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `hotline serve` on the cluster, on free ports; returns the child and
/// the gRPC address it printed. Its log goes to a file in `dir`.
pub(super) fn serve(dir: &Path, url: &str) -> (Child, SocketAddr) {
    let log = dir.join(format!(
        "serve-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    crate::serve(
        dir,
        &[
            ("HOTLINE_DATABASE__URL", url),
            ("HOTLINE_DATABASE__MIGRATE", "true"),
        ],
        Some(log),
    )
}
