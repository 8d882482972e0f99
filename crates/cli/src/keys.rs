//! `hotline keys`: the caller-data keys. `add` puts a new key in the
//! keyring file; `rotate` re-seals every ticket still under an older key
//! (or in clear, from before encryption) under the current one.
//!
//! The order matters with several replicas: every server must know a key
//! before any row is sealed with it, or it cannot read that row. So: `keys
//! add` (or add the line in the secret store), restart every replica, then
//! `keys rotate`; the old key can leave the keyring once `rotate` reports
//! nothing left.

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use hotline::{
    config::Settings,
    domain::{Clock, SystemClock},
    service::privacy::reseal_all,
};

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysAction {
    /// Append a new random data key to `privacy.keys_file` and print its id;
    /// processes that load the file afterwards seal new writes with it.
    Add,
    /// Re-seal, in batches, every ticket not under the current key, with a
    /// progress bar. Safe while servers run, and resumable: run it again
    /// after a stop and it finds only what is left.
    Rotate {
        /// Tickets per transaction.
        #[arg(long, default_value_t = 500)]
        batch_size: u32,
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// Runs a `keys` subcommand.
pub(crate) async fn run(action: KeysAction, settings: &Settings) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match action {
        KeysAction::Add => {
            let id = hotline::privacy::add_key(&settings.privacy, now)?;
            println!(
                "added key {id} to {}; restart every server, then run `hotline keys rotate`",
                settings.privacy.keys_file
            );
            Ok(())
        }
        KeysAction::Rotate {
            batch_size,
            database_url,
        } => {
            let url = database_url.unwrap_or_else(|| settings.database.url.clone());
            let pii = hotline::privacy::pii_codec(&settings.privacy, now)
                .context("loading the caller-data keys (privacy.*)")?;
            let current = pii.current_key_id().unwrap_or_default().to_owned();
            let store = hotline::store::open_with_pii(&url, 2, settings.database.migrate, pii)
                .await
                .with_context(|| format!("opening {}", hotline::app::redact_url(&url)))?;
            let stale = store.count_stale_pii().await?;
            let bar = ProgressBar::new(u64::try_from(stale).unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} re-sealing [{bar:40}] {pos}/{len} tickets ({per_sec}, {eta} left)",
                )?
                .progress_chars("=> "),
            );
            let resealed = reseal_all(store.as_ref(), batch_size, |step| {
                bar.inc(u64::from(step.found));
            })
            .await?;
            bar.finish_and_clear();
            let left = store.count_stale_pii().await?;
            println!(
                "{resealed} tickets re-sealed under key {current} in {}; {left} left",
                hotline::app::redact_url(&url)
            );
            anyhow::ensure!(
                left == 0,
                "{left} tickets are still under another key; run `hotline keys rotate` again"
            );
            // Webhook signing secrets are sealed with the same keys.
            let secrets = store.reseal_webhook_secrets().await?;
            println!("{secrets} webhook secrets re-sealed under key {current}");
            Ok(())
        }
    }
}
