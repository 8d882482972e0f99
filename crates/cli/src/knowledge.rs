//! `hotline knowledge import`: drafts knowledge-base articles from Markdown
//! and CSV files straight into the database, through the same use case as
//! `KnowledgeService.ImportArticles` (`import_drafts`). For a first load of
//! a unit's answers; the servers' indexes pick the articles up once the
//! centre publishes them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hotline::{
    config::Settings,
    domain::{Clock, Principal, Role, SystemClock, UnitId},
    service::{
        ServiceError,
        knowledge::{import::SourceFile, import_drafts},
    },
};

/// `hotline knowledge …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum KnowledgeAction {
    /// Draft articles from Markdown files (TOML front matter between `+++`
    /// lines) or CSV files; a directory contributes its `.md`, `.markdown`
    /// and `.csv` files in name order. All or nothing: a bad file writes
    /// nothing.
    Import {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The unit that owns the articles, e.g. `market-regulation`.
        #[arg(long)]
        owner_unit: String,
        /// Who imports (recorded on each article's `imported` event as
        /// `cli:<name>`, acting as admin).
        #[arg(long, default_value = "operator")]
        actor: String,
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// The importable files of `path`: itself, or a directory's in name order.
fn files_of(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let file = entry?.path();
        let importable = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_lowercase().as_str(), "md" | "markdown" | "csv"));
        if file.is_file() && importable {
            files.push(file);
        }
    }
    files.sort();
    Ok(files)
}

/// Runs a `knowledge` subcommand.
pub(crate) async fn run(action: KnowledgeAction, settings: &Settings) -> anyhow::Result<()> {
    let KnowledgeAction::Import {
        paths,
        owner_unit,
        actor,
        database_url,
    } = action;
    let owner = UnitId::parse(&owner_unit).context("--owner-unit")?;
    let mut files = Vec::new();
    for path in &paths {
        for file in files_of(path)? {
            let content = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            files.push(SourceFile {
                name: file.display().to_string(),
                content,
            });
        }
    }
    let url = database_url.unwrap_or_else(|| settings.database.url.clone());
    let store = hotline::store::open(&url, 1, settings.database.migrate)
        .await
        .with_context(|| format!("opening {}", hotline::app::redact_url(&url)))?;
    let operator = Principal {
        subject: format!("cli:{actor}"),
        roles: vec![Role::Admin],
        unit: None,
        region: None,
    };
    let now = SystemClock.now();
    let created = import_drafts(store.as_ref(), &operator, owner, &files, now, None)
        .await
        .map_err(|e| anyhow::anyhow!("{}", ServiceError::from(e)))?;
    for article in &created {
        println!("{}\t{}", article.id.name(), article.latest.content.title);
    }
    eprintln!(
        "{} draft article(s) imported for units/{owner_unit}; submit them for review",
        created.len()
    );
    Ok(())
}
