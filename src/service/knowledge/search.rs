//! This replica's search index of the served articles: opened (or rebuilt)
//! at start, following the database's change sequence, searched by
//! SearchArticles and SuggestArticles.
//!
//! **Freshness.** The index's stamp is `epoch:seq`: the database's change
//! sequence (its epoch, a random name it got with the database) and the
//! last change number applied. At start the stamp is compared with the
//! database's head: an index of the same epoch at or behind the head is
//! kept and brought up to date by applying the changes after its stamp,
//! as the follower does; one that is missing, broken, of another schema,
//! of another epoch (another database) or ahead of the head (a restored
//! backup) is rebuilt from every served article
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

use hotline_knowledge::{
    IndexedArticle, KnowledgeIndex, Opened, QueryError, SearchHit, SearchQuery,
};
use tokio::sync::Mutex;

use crate::{
    domain::knowledge::ArticleVersion,
    service::{ServiceError, instruments::KnowledgeInstruments},
    store::{ServedChange, Store, StoreError},
};

/// Changes read per round trip while following or rebuilding.
const FOLLOW_BATCH: u32 = 500;

/// The index, the lock that keeps one follower at a time, the epoch of the
/// database's sequence it follows, and its metrics.
#[derive(Clone)]
pub struct ArticleIndex {
    index: KnowledgeIndex,
    follow: Arc<Mutex<()>>,
    epoch: Arc<str>,
    instruments: KnowledgeInstruments,
}

/// The stamp of an index that applied the changes of sequence `epoch` up
/// to `seq`.
fn stamp(epoch: &str, seq: i64) -> String {
    format!("{epoch}:{seq}")
}

/// The epoch and change number of a stamp (`None`: not one of ours, e.g.
/// a bare number from before epochs).
fn parse_stamp(stamp: &str) -> Option<(&str, i64)> {
    let (epoch, seq) = stamp.rsplit_once(':')?;
    Some((epoch, seq.parse().ok()?))
}

/// A count as a gauge value.
#[allow(clippy::cast_precision_loss)] // article and change counts stay far below 2^52
fn gauge_value(n: u64) -> f64 {
    n as f64
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
    /// Opens the index in `dir`: kept and brought up to date when it is of
    /// the database's epoch and at or behind its head, else rebuilt from
    /// `store` (never fatal for a broken directory: it is wiped and
    /// rebuilt). Counts a rebuild by its reason.
    pub async fn open(
        dir: &Path,
        store: Arc<dyn Store>,
        instruments: KnowledgeInstruments,
    ) -> anyhow::Result<Self> {
        // The head before the articles: a change committed in between is
        // applied again by the first follow, which is harmless.
        let head = store.knowledge_head().await?;
        let dir = dir.to_owned();
        let runtime = tokio::runtime::Handle::current();
        let (epoch, seq) = (head.epoch.clone(), head.seq);
        let source = store.clone();
        let (index, opened) = tokio::task::spawn_blocking(move || {
            let keep =
                |had: &str| parse_stamp(had).is_some_and(|(e, n)| e == head.epoch && n <= head.seq);
            KnowledgeIndex::open_or_rebuild(&dir, &stamp(&head.epoch, head.seq), keep, || {
                Ok(runtime.block_on(all_served(source.as_ref()))?)
            })
        })
        .await??;
        let this = Self {
            index,
            follow: Arc::new(Mutex::new(())),
            epoch: epoch.into(),
            instruments,
        };
        match opened {
            Opened::Kept(had) => match this.follow(store.as_ref()).await {
                Ok(applied) => {
                    tracing::info!(
                        had,
                        head = seq,
                        applied,
                        "knowledge index kept and caught up"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e.report(), "knowledge index kept; catching up failed, the follower retries");
                }
            },
            Opened::Rebuilt(why) => {
                this.instruments.rebuilt(why);
                tracing::info!(
                    reason = why.as_str(),
                    documents = this.index.len(),
                    "knowledge index rebuilt"
                );
            }
        }
        this.instruments
            .documents
            .set(gauge_value(this.index.len()));
        Ok(this)
    }

    /// The last change number applied (0: none).
    pub fn applied(&self) -> i64 {
        self.index
            .stamp()
            .and_then(|s| parse_stamp(&s).map(|(_, seq)| seq))
            .unwrap_or(0)
    }

    /// The search and index metrics.
    pub fn instruments(&self) -> &KnowledgeInstruments {
        &self.instruments
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
            let (index, epoch) = (self.index.clone(), self.epoch.clone());
            tokio::task::spawn_blocking(move || apply(&index, &epoch, changes))
                .await
                .map_err(|e| internal("knowledge index task", e))?
                .map_err(|e| internal("updating the knowledge index", e))?;
            self.instruments
                .documents
                .set(gauge_value(self.index.len()));
        }
    }

    /// One round of the background follower: records how many changes the
    /// database has that the index has not applied (the lag, read before
    /// applying them: what built up since the last round, or since the
    /// follower last succeeded), then applies them.
    pub async fn follow_round(&self, store: &dyn Store) -> Result<usize, ServiceError> {
        let head = store.knowledge_head().await?;
        let behind = u64::try_from(head.seq - self.applied()).unwrap_or(0);
        self.instruments.follow_lag.set(gauge_value(behind));
        self.follow(store).await
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
fn apply(index: &KnowledgeIndex, epoch: &str, changes: Vec<ServedChange>) -> anyhow::Result<()> {
    let Some(stamp) = changes.last().map(|c| stamp(epoch, c.change_seq)) else {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_name_the_epoch_and_the_change() {
        let s = stamp("3f2a9c", 42);
        assert_eq!(s, "3f2a9c:42");
        assert_eq!(parse_stamp(&s), Some(("3f2a9c", 42)));
        assert_eq!(parse_stamp("42"), None, "a stamp from before epochs");
        assert_eq!(parse_stamp("3f2a9c:x"), None);
    }
}
