//! `hotline model train`: trains a dispatch-model version from the closed
//! tickets of the configured database, through the same use case as
//! `DispatchModelService.TrainDispatchModel` (`train_and_store`), without
//! an RPC deadline: for a large history, or a nightly job. Running
//! servers pick an activated version up within `routing.refresh_secs`.

use anyhow::Context;
use hotline::{
    config::Settings,
    domain::{Clock, SystemClock},
    service::dispatch_model::train_and_store,
    store::{ModelChange, ModelEventKind},
};

/// `hotline model …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ModelAction {
    /// Train a new version from the newest closed tickets (at most
    /// `dispatch_model.max_training_tickets`), store it inactive and print
    /// its figures.
    Train {
        /// Why, for the audit trail.
        #[arg(long, default_value = "")]
        note: String,
        /// Who trains (recorded as `cli:<name>`, acting as admin).
        #[arg(long, default_value = "operator")]
        actor: String,
        /// Activate the new version at once.
        #[arg(long)]
        activate: bool,
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// Runs a `model` subcommand.
pub(crate) async fn run(action: ModelAction, settings: &Settings) -> anyhow::Result<()> {
    let ModelAction::Train {
        note,
        actor,
        activate,
        database_url,
    } = action;
    let url = database_url.unwrap_or_else(|| settings.database.url.clone());
    let now = SystemClock.now();
    // The descriptions are sealed at rest: training reads them.
    let pii = hotline::privacy::pii_codec(&settings.privacy, now)
        .context("loading the caller-data keys (privacy.*)")?;
    let store = hotline::store::open_with_pii(&url, 2, settings.database.migrate, pii)
        .await
        .with_context(|| format!("opening {}", hotline::app::redact_url(&url)))?;
    let change = |note: String| ModelChange {
        actor: format!("cli:{actor}"),
        actor_role: "admin".into(),
        note,
        time: SystemClock.now(),
    };
    let trained = train_and_store(store.as_ref(), &settings.dispatch_model, change(note))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let s = &trained.summary;
    println!(
        "trained dispatchModels/{}: {} closed tickets read ({} mapped to a successor, {} of abolished units left out), \
         fitted on {}, {} units, {} features, penalty {}, threshold {:.3}",
        trained.info.version,
        s.tickets_read,
        s.mapped,
        s.dropped,
        s.trained_on,
        s.units,
        s.features,
        s.regularization,
        s.threshold
    );
    match &s.held_out {
        Some(h) => println!(
            "held out {}: accuracy {:.1} %, macro-F1 {:.3}; at the threshold it decides {:.1} % of them, {:.1} % right",
            h.tickets,
            h.accuracy * 100.0,
            h.macro_f1,
            h.coverage * 100.0,
            h.confident_accuracy * 100.0
        ),
        None => println!("nothing held out (fewer than 50 tickets): the version will not decide"),
    }
    if activate {
        let active = store.active_dispatch_model_version().await?;
        store
            .set_active_dispatch_model(
                active,
                trained.info.version,
                ModelEventKind::Activated,
                &change("activated on training".into()),
            )
            .await?;
        println!("dispatchModels/{} is active", trained.info.version);
    }
    Ok(())
}
