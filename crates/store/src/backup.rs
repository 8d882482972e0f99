//! Online backups (`hotline backup FILE`).
//!
//! SQLite: `VACUUM INTO` writes a consistent, compacted copy of the database
//! from one read transaction. In WAL mode readers do not block writers, so
//! it runs while servers keep writing, and the copy includes what is still
//! in the `-wal` file (copying `hotline.db` with `cp` would miss that, or
//! tear a page mid-write).
//!
//! PostgreSQL has `pg_dump` for this, with its own consistency, formats and
//! `pg_restore`; the server does not run external programs, so for a
//! PostgreSQL URL the answer is the `pg_dump` command line to run.

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    ConnectOptions, Connection, Executor, Sqlite, postgres::PgConnectOptions,
    sqlite::SqliteConnectOptions,
};

use super::SqliteStore;

impl SqliteStore {
    /// Writes a consistent copy of the database to `target`, which must not
    /// exist. Returns the size of the copy in bytes.
    pub async fn backup_to(&self, target: &Path) -> anyhow::Result<u64> {
        vacuum_into(self.pool(), target).await
    }
}

/// Backs up the database named by `url` to the new file `target` (SQLite),
/// or explains the `pg_dump` command to use (PostgreSQL, an error). Returns
/// the size of the copy in bytes.
///
/// The SQLite database must exist: opening it does not create it (a typo
/// would otherwise back up a new, empty database) and applies no
/// migration (a backup leaves the source as it was).
pub async fn backup(url: &str, target: &Path) -> anyhow::Result<u64> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(5));
        anyhow::ensure!(
            !is_in_memory(url),
            "an in-memory database lives in its server process and cannot be backed up from outside"
        );
        let source = options.get_filename();
        anyhow::ensure!(
            source.exists(),
            "no SQLite database at {}",
            source.display()
        );
        let mut conn = options
            .connect()
            .await
            .with_context(|| format!("opening {}", source.display()))?;
        let size = vacuum_into(&mut conn, target).await;
        conn.close().await?;
        size
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Err(anyhow::anyhow!(
            "`hotline backup` copies SQLite databases; back up PostgreSQL with pg_dump, which takes a \
             consistent snapshot while the servers run:\n\n  {}\n\nRestore into an empty database \
             with pg_restore --dbname=… {} (see docs/operations.md, \"Backup and restore\").",
            pg_dump_command(url, target)?,
            shell_quote(&target.display().to_string()),
        ))
    } else {
        anyhow::bail!("unsupported database URL scheme (use sqlite: or postgres:)")
    }
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// `VACUUM INTO` on any SQLite executor (the pool of a running store, or a
/// connection of its own).
async fn vacuum_into<'e, E>(executor: E, target: &Path) -> anyhow::Result<u64>
where
    E: Executor<'e, Database = Sqlite>,
{
    // SQLite refuses a non-empty target itself; checked first for a clear
    // message, and for empty files, which it would overwrite.
    anyhow::ensure!(
        std::fs::symlink_metadata(target).is_err(),
        "{} exists; a backup never overwrites a file, choose a new name",
        target.display()
    );
    let path = target
        .to_str()
        .with_context(|| format!("{}: the path must be UTF-8", target.display()))?;
    executor
        .execute(sqlx::query("VACUUM INTO ?").bind(path))
        .await
        .with_context(|| format!("writing the backup to {path}"))?;
    Ok(std::fs::metadata(target)
        .with_context(|| format!("reading the size of {path}"))?
        .len())
}

/// The `pg_dump` command line for `url`, without its password (pg_dump
/// reads it from `PGPASSWORD` or `~/.pgpass`, never from a command line
/// that `ps` shows).
fn pg_dump_command(url: &str, target: &Path) -> anyhow::Result<String> {
    let options = PgConnectOptions::from_str(url).context("parsing the PostgreSQL URL")?;
    let host = match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => options.get_host().to_owned(),
    };
    let mut command = format!(
        "pg_dump --format=custom --host={} --port={} --username={}",
        shell_quote(&host),
        options.get_port(),
        shell_quote(options.get_username()),
    );
    if let Some(database) = options.get_database() {
        command.push_str(&format!(" --dbname={}", shell_quote(database)));
    }
    command.push_str(&format!(
        " --file={}",
        shell_quote(&target.display().to_string())
    ));
    Ok(command)
}

/// `text` as one POSIX shell word: as is when it is plainly safe, else in
/// single quotes.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a test failure

    use super::*;

    #[tokio::test]
    async fn postgres_gets_the_pg_dump_command_without_the_password() {
        let err = backup(
            "postgres://hotline:s3cret@db.internal:5433/hotline",
            Path::new("/var/backups/hotline 1.dump"),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "pg_dump --format=custom --host=db.internal --port=5433 --username=hotline \
                 --dbname=hotline --file='/var/backups/hotline 1.dump'"
            ),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[tokio::test]
    async fn a_running_store_backs_itself_up_once_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let store = crate::connect_sqlite(&url, 2, true).await.unwrap();
        let target = dir.path().join("copy.db");
        assert!(store.backup_to(&target).await.unwrap() > 0);
        let again = store.backup_to(&target).await.unwrap_err().to_string();
        assert!(again.contains("exists"), "{again}");
    }

    #[tokio::test]
    async fn a_missing_sqlite_database_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("typo.db");
        let url = format!("sqlite://{}", source.display());
        let err = backup(&url, &dir.path().join("copy.db")).await.unwrap_err();
        assert!(err.to_string().contains("no SQLite database at"), "{err}");
        assert!(!source.exists() && !dir.path().join("copy.db").exists());
    }
}
