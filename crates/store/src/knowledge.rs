//! Knowledge-base articles: their workflow state, every version, the audit
//! trail, and the change sequence search indexes follow.
//!
//! **The change sequence.** Every write of an article (creation included)
//! takes the next number of one sequence over all articles, held in a
//! one-row table and incremented inside the write's transaction. The row
//! stays locked until commit (one writer on SQLite; the row lock on
//! PostgreSQL), so numbers become visible in order: a reader that has
//! seen number N has seen every change up to N. Each replica's index
//! follows [`KnowledgeStore::served_changes`] after the highest number it
//! applied, so a publication on one replica reaches the others' searches
//! at their next poll. The article's latest number doubles as its etag.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{CounterScope, IdempotencyKey, StoreError, StoreResult};
use hotline_domain::{
    UnitId,
    knowledge::{
        Article, ArticleEvent, ArticleEventKind, ArticleId, ArticleOutcome, ArticleState,
        ArticleVersion,
    },
};

/// A new article, at version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArticle {
    /// The article (its `change_seq` is assigned by the store).
    pub article: Article,
    /// [`ArticleEventKind::Created`] or [`ArticleEventKind::Imported`].
    pub event: ArticleEventKind,
    /// The role the creator acted in.
    pub actor_role: String,
}

/// A decided change to an article, applied if nobody changed it since it
/// was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleChange {
    /// The article.
    pub id: ArticleId,
    /// Its `change_seq` when read (else `Conflict`).
    pub expected_change_seq: i64,
    /// Its latest version when read (a new version is the next one).
    pub latest_version: i64,
    /// What the domain decided.
    pub outcome: ArticleOutcome,
    /// Who (token subject).
    pub actor: String,
    /// In which role.
    pub actor_role: String,
    /// When.
    pub now: DateTime<Utc>,
}

/// Filters of an article list, in id (creation) order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArticleQuery {
    /// Only this unit's articles.
    pub owner_unit: Option<UnitId>,
    /// Only articles in this state.
    pub state: Option<ArticleState>,
    /// Continue after this id.
    pub after: Option<ArticleId>,
    /// Maximum rows.
    pub limit: u32,
}

/// An article's last change as a search index sees it: the version agents
/// are served now, or none (the index drops the article).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedChange {
    /// The article.
    pub id: ArticleId,
    /// Its position in the change sequence.
    pub change_seq: i64,
    /// The served version, if any.
    pub served: Option<ArticleVersion>,
}

/// How far the change sequence has gone, and which sequence it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeHead {
    /// A random name the sequence got with the database: another epoch is
    /// another database, whose numbers mean other changes.
    pub epoch: String,
    /// The highest change number committed (0: no article ever written).
    pub seq: i64,
}

/// How often agents cited an article when resolving at intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleUse {
    /// The article.
    pub article: ArticleId,
    /// Tickets resolved citing it.
    pub uses: i64,
}

/// Articles, their versions and audit trail.
#[async_trait]
pub trait KnowledgeStore: Send + Sync + Debug {
    /// Stores new articles, each with its version 1, its creation event and
    /// its own change number, and the idempotency record if given (naming
    /// every article, in order, separated by spaces), all in one
    /// transaction: an import is all or nothing, and a retry finds its
    /// record with the articles or neither. Returns them as stored.
    /// `NotFound` if an owner unit does not exist, `AlreadyExists` if an id
    /// is taken or the key was used (nothing is written).
    async fn create_articles(
        &self,
        new: &[NewArticle],
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Vec<Article>>;
    /// [`KnowledgeStore::create_articles`] of one article.
    async fn create_article(
        &self,
        new: &NewArticle,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Article> {
        self.create_articles(std::slice::from_ref(new), key)
            .await?
            .pop()
            .ok_or_else(|| StoreError::internal("an insert returned no article"))
    }
    /// An article with its latest version; `NotFound` if none.
    async fn get_article(&self, id: ArticleId) -> StoreResult<Article>;
    /// Articles matching a query, in id order.
    async fn list_articles(&self, query: &ArticleQuery) -> StoreResult<Vec<Article>>;
    /// An article's versions after `after`, oldest first.
    async fn list_article_versions(
        &self,
        id: ArticleId,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ArticleVersion>>;
    /// Applies a decided change (state, new version, served version) and
    /// writes its audit event and the idempotency record if given, in one
    /// transaction, if the article is still at `expected_change_seq` (else
    /// `Conflict`; a key already used is `AlreadyExists`, nothing written);
    /// returns the article after.
    async fn change_article(
        &self,
        change: &ArticleChange,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Article>;
    /// An article's audit trail, oldest first.
    async fn article_events(&self, id: ArticleId) -> StoreResult<Vec<ArticleEvent>>;
    /// Up to `limit` articles whose last change is after `after_seq`, in
    /// change order, each with the version it serves now.
    async fn served_changes(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<ServedChange>>;
    /// The highest change number committed (0: no article ever written)
    /// and the sequence's epoch.
    async fn knowledge_head(&self) -> StoreResult<KnowledgeHead>;
    /// The served versions of those of `ids` that are served (published
    /// or being revised, not retired).
    async fn served_versions(&self, ids: &[ArticleId]) -> StoreResult<Vec<ArticleVersion>>;
    /// How many tickets resolved at intake in `[from, to)` cited each
    /// article, the most used first (then by id), at most `limit`: every
    /// article for [`CounterScope::Centre`], else only the articles owned
    /// by the scope's units (the unit, its subtree, the region's units).
    async fn article_uses(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        owners: &CounterScope,
        limit: u32,
    ) -> StoreResult<Vec<ArticleUse>>;
}

/// Each article use with the article's latest title (none if the article
/// is gone): what ListArticleUsage, the scorecards and the report show.
pub async fn with_titles(
    store: &(impl KnowledgeStore + ?Sized),
    uses: Vec<ArticleUse>,
) -> StoreResult<Vec<(ArticleUse, Option<String>)>> {
    let mut out = Vec::with_capacity(uses.len());
    for usage in uses {
        let title = match store.get_article(usage.article).await {
            Ok(article) => Some(article.latest.content.title),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        out.push((usage, title));
    }
    Ok(out)
}
