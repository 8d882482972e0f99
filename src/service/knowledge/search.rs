//! This replica's search index of the served articles: opened (or rebuilt)
//! at start, following the database's change sequence, searched by
//! SearchArticles and SuggestArticles.
//!
//! **Freshness.** The index's stamp is the last change number it applied.
//! At start the stamp is compared with the database's head; an index that
//! is missing, broken or behind is rebuilt from every served article
//! (`hotline_knowledge::KnowledgeIndex::open_or_rebuild`). Then
//! [`ArticleIndex::follow`] applies the changes after the stamp: every
//! `knowledge.follow_interval_ms` from the background task, and at once
//! after a change made on this replica, so its own writes are searchable
//! when the RPC returns and other replicas' within one interval.
//!
//! Only the served version of a published (or being revised) article is
//! indexed; retired articles are removed; the date filter of each search
//! drops articles not yet effective or expired on the centre's today.

use std::{path::Path, sync::Arc};

use hotline_knowledge::{IndexedArticle, KnowledgeIndex, QueryError, SearchHit, SearchQuery};
use tokio::sync::Mutex;

use crate::{
    domain::knowledge::ArticleVersion,
    service::ServiceError,
    store::{ServedChange, Store, StoreError},
};

/// Changes read per round trip while following or rebuilding.
const FOLLOW_BATCH: u32 = 500;

/// The index and the lock that keeps one follower at a time.
#[derive(Clone)]
pub struct ArticleIndex {
    index: KnowledgeIndex,
    follow: Arc<Mutex<()>>,
}

impl std::fmt::Debug for ArticleIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArticleIndex")
            .field("stamp", &self.index.stamp())
            .finish_non_exhaustive()
    }
}

/// The index's view of a served version.
fn indexed(version: ArticleVersion) -> IndexedArticle {
    let c = version.content;
    IndexedArticle {
        id: version.article.to_string(),
        version: version.version,
        title: c.title,
        body: c.body,
        subjects: c.subjects,
        regions: c.regions,
        tags: c.tags,
        effective_from: c.effective_from,
        expires_on: c.expires_on,
    }
}

/// Every served article, read in change order.
async fn all_served(store: &dyn Store) -> Result<Vec<IndexedArticle>, StoreError> {
    let mut after = 0;
    let mut out = Vec::new();
    loop {
        let changes = store.served_changes(after, FOLLOW_BATCH).await?;
        let Some(last) = changes.last() else {
            return Ok(out);
        };
        after = last.change_seq;
        out.extend(changes.into_iter().filter_map(|c| c.served.map(indexed)));
    }
}

fn internal(context: &str, err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("{context}: {err:#}"))
}

impl ArticleIndex {
    /// Opens the index in `dir`, rebuilding it from `store` when it is
    /// missing, unreadable or behind the database (never fatal for a
    /// broken directory: it is wiped and rebuilt).
    pub async fn open(dir: &Path, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        // The head before the articles: a change committed in between is
        // applied again by the first follow, which is harmless.
        let head = store.knowledge_head().await?;
        let dir = dir.to_owned();
        let runtime = tokio::runtime::Handle::current();
        let index = tokio::task::spawn_blocking(move || {
            KnowledgeIndex::open_or_rebuild(&dir, &head.to_string(), || {
                Ok(runtime.block_on(all_served(store.as_ref()))?)
            })
        })
        .await??;
        Ok(Self::wrap(index))
    }

    fn wrap(index: KnowledgeIndex) -> Self {
        Self {
            index,
            follow: Arc::new(Mutex::new(())),
        }
    }

    /// The last change number applied (0: none).
    pub fn applied(&self) -> i64 {
        self.index.stamp().and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// Applies every change committed after the stamp; returns how many.
    pub async fn follow(&self, store: &dyn Store) -> Result<usize, ServiceError> {
        let _one_follower = self.follow.lock().await;
        let mut applied = 0;
        loop {
            let changes = store.served_changes(self.applied(), FOLLOW_BATCH).await?;
            if changes.is_empty() {
                return Ok(applied);
            }
            applied += changes.len();
            let index = self.index.clone();
            tokio::task::spawn_blocking(move || apply(&index, changes))
                .await
                .map_err(|e| internal("knowledge index task", e))?
                .map_err(|e| internal("updating the knowledge index", e))?;
        }
    }

    /// Runs `query` on the index (off the async threads: a search is CPU
    /// work).
    pub async fn search(&self, query: SearchQuery) -> Result<Vec<SearchHit>, ServiceError> {
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.search(&query))
            .await
            .map_err(|e| internal("knowledge search task", e))?
            .map_err(|e| match e {
                QueryError::Invalid { field, reason } => ServiceError::invalid(field, reason),
                other => internal("knowledge search", other),
            })
    }
}

/// Writes a batch of changes and commits it with the last change number.
fn apply(index: &KnowledgeIndex, changes: Vec<ServedChange>) -> anyhow::Result<()> {
    let Some(stamp) = changes.last().map(|c| c.change_seq.to_string()) else {
        return Ok(());
    };
    for change in changes {
        match change.served {
            Some(version) => index.upsert(indexed(version))?,
            None => index.remove(&change.id.to_string())?,
        }
    }
    index.commit(&stamp)
}
