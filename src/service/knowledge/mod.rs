//! Knowledge-base use cases: articles and their review workflow, search
//! and suggestions for agents, imports, and citation counts.
//!
//! Permissions: the role checks are [`Operation::DraftArticles`],
//! [`Operation::ReviewArticles`] and [`Operation::ReadArticles`]; a unit
//! user edits only its own unit's articles ([`Article::check_editor`]).
//! Every read role reads every article, drafts included: units learn from
//! each other's answers, and nothing here is caller data.
//!
//! Search runs on this replica's index ([`search`]); the index follows
//! the database's change sequence, so what one replica publishes the
//! others serve after their next poll.

mod answers;
pub mod import;
mod retries;
pub mod search;

pub use answers::{
    DEFAULT_SUGGESTIONS, MAX_QUERY_CHARS, MAX_SEARCH_DEPTH, MAX_SUGGEST_CHARS, SearchPage,
};
pub use search::ArticleIndex;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    ServiceError, Workflow,
    workflow::{RequestKey, idempotency_key},
};
use crate::{
    config::KnowledgeSettings,
    domain::{
        Principal, UnitId,
        access::Operation,
        knowledge::{
            Article, ArticleAction, ArticleContent, ArticleEvent, ArticleEventKind, ArticleId,
            ArticleVersion, check_create,
        },
    },
    store::{
        ArticleChange, ArticleQuery, ArticleUse, CounterScope, IdempotencyKey, NewArticle, Store,
        StoreError, with_titles,
    },
};

/// Most articles one import may bring.
pub const MAX_IMPORT: usize = 1000;

/// The knowledge-base use cases over the shared workflow and this
/// replica's index.
#[derive(Debug, Clone)]
pub struct Knowledge {
    workflow: Arc<Workflow>,
    index: ArticleIndex,
    settings: KnowledgeSettings,
}

/// What a new article is made of.
#[derive(Debug, Clone)]
pub struct ArticleDraft {
    /// The unit that will own it.
    pub owner_unit: UnitId,
    /// Its first version.
    pub content: ArticleContent,
    /// The id the client chose, if any (a retry then meets ALREADY_EXISTS).
    pub id: Option<ArticleId>,
}

impl Knowledge {
    /// The use cases over `workflow`, searching `index`.
    pub fn new(workflow: Arc<Workflow>, index: ArticleIndex, settings: KnowledgeSettings) -> Self {
        Self {
            workflow,
            index,
            settings,
        }
    }

    /// This replica's index.
    pub fn index(&self) -> &ArticleIndex {
        &self.index
    }

    /// The settings in force.
    pub fn settings(&self) -> &KnowledgeSettings {
        &self.settings
    }

    /// The clock's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.workflow.clock().now()
    }

    /// Drafts an article (version 1) owned by `draft.owner_unit`; a retry
    /// of the request ([`RequestKey`]) gets the article it created.
    pub async fn create_article(
        &self,
        who: &Principal,
        request: &RequestKey,
        draft: ArticleDraft,
    ) -> Result<Article, ServiceError> {
        check_create(who, &draft.owner_unit)?;
        let key = idempotency_key(who, request, "CreateArticle")?;
        if let Some(article) = self.replay_one(key.as_ref(), None).await? {
            return Ok(article);
        }
        let store = self.workflow.store().as_ref();
        let event = ArticleEventKind::Created;
        match create_draft(store, who, draft, event, self.now(), key.clone()).await {
            Err(Written::Refused(refusal)) => {
                let mut replayed = self.replay_refused(key.as_ref(), None, refusal).await?;
                replayed.pop().ok_or_else(|| {
                    ServiceError::Internal("an idempotency record names no article".into())
                })
            }
            other => Ok(other?),
        }
    }

    /// Reads an article.
    pub async fn get_article(
        &self,
        who: &Principal,
        id: ArticleId,
    ) -> Result<Article, ServiceError> {
        who.authorize(Operation::ReadArticles)?;
        Ok(self.workflow.store().get_article(id).await?)
    }

    /// Lists articles.
    pub async fn list_articles(
        &self,
        who: &Principal,
        query: &ArticleQuery,
    ) -> Result<Vec<Article>, ServiceError> {
        who.authorize(Operation::ReadArticles)?;
        Ok(self.workflow.store().list_articles(query).await?)
    }

    /// An article's versions after `after`.
    pub async fn list_versions(
        &self,
        who: &Principal,
        id: ArticleId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ArticleVersion>, ServiceError> {
        who.authorize(Operation::ReadArticles)?;
        Ok(self
            .workflow
            .store()
            .list_article_versions(id, after, limit)
            .await?)
    }

    /// An article's audit trail.
    pub async fn list_events(
        &self,
        who: &Principal,
        id: ArticleId,
    ) -> Result<Vec<ArticleEvent>, ServiceError> {
        who.authorize(Operation::ReadArticles)?;
        let store = self.workflow.store();
        store.get_article(id).await?;
        Ok(store.article_events(id).await?)
    }

    /// Writes a new version from `edit` applied to the current content.
    pub async fn update_article(
        &self,
        who: &Principal,
        id: ArticleId,
        etag: Option<&str>,
        request: &RequestKey,
        edit: impl FnOnce(&ArticleContent) -> Result<ArticleContent, ServiceError>,
    ) -> Result<Article, ServiceError> {
        who.authorize(Operation::DraftArticles)?;
        let key = idempotency_key(who, request, "UpdateArticle")?;
        let article = match self.load_fresh(id, etag, key.as_ref()).await? {
            Fresh::Current(article) => article,
            Fresh::Replayed(article) => return Ok(article),
        };
        let content = edit(&article.latest.content)?;
        self.apply(who, &article, ArticleAction::Update(content), key)
            .await
    }

    /// Submits, approves, rejects or retires.
    pub async fn act(
        &self,
        who: &Principal,
        id: ArticleId,
        etag: Option<&str>,
        request: &RequestKey,
        action: ArticleAction,
    ) -> Result<Article, ServiceError> {
        who.authorize(action.operation())?;
        let key = idempotency_key(who, request, retries::operation(&action))?;
        match self.load_fresh(id, etag, key.as_ref()).await? {
            Fresh::Current(article) => self.apply(who, &article, action, key).await,
            Fresh::Replayed(article) => Ok(article),
        }
    }

    /// Reads an article; if `key` was used by this very request before,
    /// that request's result (its etag is stale by then: the first attempt
    /// moved it); else checks the client's etag (its change number).
    async fn load_fresh(
        &self,
        id: ArticleId,
        etag: Option<&str>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Fresh, ServiceError> {
        // The article first, the key second, as for tickets: a retry that
        // committed before the article read has its record visible after.
        let article = self.workflow.store().get_article(id).await?;
        if let Some(replayed) = self.replay_one(key, Some(id)).await? {
            return Ok(Fresh::Replayed(replayed));
        }
        match etag {
            Some(etag) if etag != article.change_seq.to_string() => {
                Err(ServiceError::EtagMismatch {
                    current: article.change_seq.to_string(),
                })
            }
            _ => Ok(Fresh::Current(article)),
        }
    }

    async fn apply(
        &self,
        who: &Principal,
        article: &Article,
        action: ArticleAction,
        key: Option<IdempotencyKey>,
    ) -> Result<Article, ServiceError> {
        let outcome = article.decide(who, action)?;
        let change = ArticleChange {
            id: article.id,
            expected_change_seq: article.change_seq,
            latest_version: article.latest.version,
            outcome,
            actor: who.subject.clone(),
            actor_role: who.role_label().to_owned(),
            now: self.now(),
        };
        let store = self.workflow.store();
        let changed = match store.change_article(&change, key.clone()).await {
            Ok(changed) => changed,
            Err(refusal) if key.is_some() => {
                let mut replayed = self
                    .replay_refused(key.as_ref(), Some(article.id), refusal)
                    .await?;
                return replayed.pop().ok_or_else(|| {
                    ServiceError::Internal("an idempotency record names no article".into())
                });
            }
            Err(e) => return Err(e.into()),
        };
        self.catch_up().await;
        Ok(changed)
    }

    /// Brings this replica's index up to the database now, so a change
    /// made here is searchable when its RPC returns. A failure only delays
    /// it to the next background follow.
    pub async fn catch_up(&self) {
        if let Err(e) = self.index.follow(self.workflow.store().as_ref()).await {
            tracing::warn!(error = %e.report(), "knowledge index follow failed; the next poll retries");
        }
    }

    /// The background follower's round: the lag gauge, then
    /// [`Knowledge::catch_up`]'s work.
    pub async fn follow_round(&self) {
        if let Err(e) = self
            .index
            .follow_round(self.workflow.store().as_ref())
            .await
        {
            tracing::warn!(error = %e.report(), "knowledge index follow failed; the next poll retries");
        }
    }

    /// Drafts every article of `files` for `owner` ([`import_drafts`]),
    /// then brings this replica's index up to date; a retry of the request
    /// gets the articles it created.
    pub async fn import(
        &self,
        who: &Principal,
        owner: UnitId,
        files: &[import::SourceFile],
        request: &RequestKey,
    ) -> Result<Vec<Article>, ServiceError> {
        check_create(who, &owner)?;
        let key = idempotency_key(who, request, "ImportArticles")?;
        if let Some(articles) = self.replay(key.as_ref(), None).await? {
            return Ok(articles);
        }
        let store = self.workflow.store().as_ref();
        let created = match import_drafts(store, who, owner, files, self.now(), key.clone()).await {
            Err(Written::Refused(refusal)) => {
                return self.replay_refused(key.as_ref(), None, refusal).await;
            }
            other => other?,
        };
        self.catch_up().await;
        Ok(created)
    }

    /// How often each article was cited at intake in `[from, to)`, most
    /// used first, with its latest title (none if it is gone).
    pub async fn usage(
        &self,
        who: &Principal,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(ArticleUse, Option<String>)>, ServiceError> {
        who.authorize(Operation::ReadArticles)?;
        if to <= from {
            return Err(ServiceError::invalid(
                "end_time",
                "must be after start_time",
            ));
        }
        let store = self.workflow.store();
        let uses = store
            .article_uses(from, to, &CounterScope::Centre, limit)
            .await?;
        Ok(with_titles(store.as_ref(), uses).await?)
    }
}

/// An article read for a change, or the answer of the earlier attempt of
/// the same request.
#[derive(Debug)]
enum Fresh {
    /// As stored now, the etag checked: the change goes ahead.
    Current(Article),
    /// This request's earlier attempt did it: its result, as it is now.
    Replayed(Article),
}

/// Why [`create_draft`] or [`import_drafts`] wrote nothing.
#[derive(Debug)]
pub enum Written {
    /// The store refused the write as `AlreadyExists` (an id or the key
    /// is taken): a keyed caller checks for a concurrent retry first.
    Refused(StoreError),
    /// Anything else.
    Failed(ServiceError),
}

impl From<ServiceError> for Written {
    fn from(e: ServiceError) -> Self {
        Self::Failed(e)
    }
}

impl From<Written> for ServiceError {
    fn from(w: Written) -> Self {
        match w {
            Written::Refused(e) => e.into(),
            Written::Failed(e) => e,
        }
    }
}

/// The article `draft` makes as `who` at `now`, validated; `who` must be
/// allowed to write for the owner unit.
fn drafted(
    who: &Principal,
    draft: ArticleDraft,
    event: ArticleEventKind,
    now: DateTime<Utc>,
    field: &str,
) -> Result<NewArticle, ServiceError> {
    check_create(who, &draft.owner_unit)?;
    let content = draft.content.validated().map_err(|e| e.within(field))?;
    let id = draft.id.unwrap_or_else(|| ArticleId::generate(now));
    let article = Article::drafted(id, draft.owner_unit, content, &who.subject, now);
    Ok(NewArticle {
        article,
        event,
        actor_role: who.role_label().to_owned(),
    })
}

/// Stores `new` with `key`; an unknown owner unit is invalid
/// `owner_field`.
async fn store_drafts(
    store: &dyn Store,
    new: &[NewArticle],
    key: Option<IdempotencyKey>,
    owner_field: &str,
) -> Result<Vec<Article>, Written> {
    match store.create_articles(new, key).await {
        Ok(created) => Ok(created),
        Err(StoreError::NotFound(unit)) => Err(Written::Failed(ServiceError::invalid(
            owner_field,
            format!("no unit {unit}"),
        ))),
        Err(e @ StoreError::AlreadyExists(_)) => Err(Written::Refused(e)),
        Err(e) => Err(Written::Failed(e.into())),
    }
}

/// Drafts an article (version 1) as `who` at `now`: the check that `who`
/// may write for the owner unit, the content's validation, the write with
/// its `event` and the idempotency record of `key`. Shared by the RPCs and
/// `hotline knowledge import`.
pub async fn create_draft(
    store: &dyn Store,
    who: &Principal,
    draft: ArticleDraft,
    event: ArticleEventKind,
    now: DateTime<Utc>,
    key: Option<IdempotencyKey>,
) -> Result<Article, Written> {
    let new = drafted(who, draft, event, now, "article")?;
    let owner = "article.owner_unit";
    let mut created = store_drafts(store, std::slice::from_ref(&new), key, owner).await?;
    created.pop().ok_or_else(|| {
        Written::Failed(ServiceError::Internal(
            "an insert returned no article".into(),
        ))
    })
}

/// An imported article that is invalid is its file's content's fault: the
/// error names the request field `files[{i}].content` and says which
/// article of the file (`n`, from 0) and which of its fields is wrong.
fn in_file(err: ServiceError, i: usize, n: usize, file: &str) -> ServiceError {
    match err {
        ServiceError::InvalidField { field, message } => ServiceError::invalid(
            format!("files[{i}].content"),
            format!("{file}, article {}: {field}: {message}", n + 1),
        ),
        other => other,
    }
}

/// Drafts every article of `files` for `owner`, in file order, in one
/// transaction with the idempotency record of `key`: nothing is written
/// unless every file parses, every article is valid and every write
/// succeeds. Imported articles are drafts: they still go through review.
pub async fn import_drafts(
    store: &dyn Store,
    who: &Principal,
    owner: UnitId,
    files: &[import::SourceFile],
    now: DateTime<Utc>,
    key: Option<IdempotencyKey>,
) -> Result<Vec<Article>, Written> {
    check_create(who, &owner).map_err(ServiceError::from)?;
    let mut contents = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let parsed = import::parse(file).map_err(|e| match e {
            ServiceError::InvalidField { field, message } => ServiceError::invalid(
                format!("files[{i}].{field}"),
                format!("{}: {message}", file.name),
            ),
            other => other,
        })?;
        contents.extend(
            parsed
                .into_iter()
                .enumerate()
                .map(|(n, c)| (i, &file.name, n, c)),
        );
        if contents.len() > MAX_IMPORT {
            return Err(ServiceError::invalid(
                "files",
                format!("at most {MAX_IMPORT} articles per import"),
            )
            .into());
        }
    }
    let mut new = Vec::with_capacity(contents.len());
    for (i, file, n, content) in contents {
        let draft = ArticleDraft {
            owner_unit: owner.clone(),
            content,
            id: None,
        };
        let article = drafted(who, draft, ArticleEventKind::Imported, now, "article")
            .map_err(|e| in_file(e, i, n, file))?;
        new.push(article);
    }
    store_drafts(store, &new, key, "owner_unit").await
}
