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
pub mod search;

pub use answers::{
    DEFAULT_SUGGESTIONS, MAX_QUERY_CHARS, MAX_SEARCH_DEPTH, MAX_SUGGEST_CHARS, SearchPage,
};
pub use search::ArticleIndex;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{ServiceError, Workflow};
use crate::{
    config::KnowledgeSettings,
    domain::{
        Principal, UnitId,
        access::Operation,
        knowledge::{
            Article, ArticleAction, ArticleContent, ArticleEvent, ArticleEventKind, ArticleId,
            ArticleState, ArticleVersion, check_create,
        },
    },
    store::{ArticleChange, ArticleQuery, ArticleUse, NewArticle, Store, StoreError},
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

    /// Drafts an article (version 1) owned by `draft.owner_unit`.
    pub async fn create_article(
        &self,
        who: &Principal,
        draft: ArticleDraft,
    ) -> Result<Article, ServiceError> {
        self.create_as(who, draft, ArticleEventKind::Created).await
    }

    async fn create_as(
        &self,
        who: &Principal,
        draft: ArticleDraft,
        event: ArticleEventKind,
    ) -> Result<Article, ServiceError> {
        create_draft(
            self.workflow.store().as_ref(),
            who,
            draft,
            event,
            self.now(),
        )
        .await
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
        edit: impl FnOnce(&ArticleContent) -> Result<ArticleContent, ServiceError>,
    ) -> Result<Article, ServiceError> {
        who.authorize(Operation::DraftArticles)?;
        let article = self.load_fresh(id, etag).await?;
        let content = edit(&article.latest.content)?;
        self.apply(who, &article, ArticleAction::Update(content))
            .await
    }

    /// Submits, approves, rejects or retires.
    pub async fn act(
        &self,
        who: &Principal,
        id: ArticleId,
        etag: Option<&str>,
        action: ArticleAction,
    ) -> Result<Article, ServiceError> {
        who.authorize(action.operation())?;
        let article = self.load_fresh(id, etag).await?;
        self.apply(who, &article, action).await
    }

    /// Reads an article and checks the client's etag (its change number).
    async fn load_fresh(&self, id: ArticleId, etag: Option<&str>) -> Result<Article, ServiceError> {
        let article = self.workflow.store().get_article(id).await?;
        match etag {
            Some(etag) if etag != article.change_seq.to_string() => {
                Err(ServiceError::EtagMismatch {
                    current: article.change_seq.to_string(),
                })
            }
            _ => Ok(article),
        }
    }

    async fn apply(
        &self,
        who: &Principal,
        article: &Article,
        action: ArticleAction,
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
        let changed = self.workflow.store().change_article(&change).await?;
        self.catch_up().await;
        Ok(changed)
    }

    /// Brings this replica's index up to the database now, so a change
    /// made here is searchable when its RPC returns. A failure only delays
    /// it to the next background follow.
    pub async fn catch_up(&self) {
        if let Err(e) = self.index.follow(self.workflow.store().as_ref()).await {
            tracing::warn!(error = %e, "knowledge index follow failed; the next poll retries");
        }
    }

    /// Drafts every article of `files` for `owner` ([`import_drafts`]),
    /// then brings this replica's index up to date.
    pub async fn import(
        &self,
        who: &Principal,
        owner: UnitId,
        files: &[import::SourceFile],
    ) -> Result<Vec<Article>, ServiceError> {
        let store = self.workflow.store().as_ref();
        let created = import_drafts(store, who, owner, files, self.now()).await?;
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
        let uses = store.article_uses(from, to, limit).await?;
        let mut out = Vec::with_capacity(uses.len());
        for usage in uses {
            let title = match store.get_article(usage.article).await {
                Ok(article) => Some(article.latest.content.title),
                Err(StoreError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            out.push((usage, title));
        }
        Ok(out)
    }
}

/// Drafts an article (version 1) as `who` at `now`: the check that `who`
/// may write for the owner unit, the content's validation, the write with
/// its `event`. Shared by the RPCs and `hotline knowledge import`.
pub async fn create_draft(
    store: &dyn Store,
    who: &Principal,
    draft: ArticleDraft,
    event: ArticleEventKind,
    now: DateTime<Utc>,
) -> Result<Article, ServiceError> {
    check_create(who, &draft.owner_unit)?;
    let content = draft.content.validated().map_err(|e| e.within("article"))?;
    let id = draft.id.unwrap_or_else(|| ArticleId::generate(now));
    let article = Article {
        id,
        owner_unit: draft.owner_unit.clone(),
        state: ArticleState::Draft,
        latest: ArticleVersion {
            article: id,
            version: 1,
            content,
            author: who.subject.clone(),
            create_time: now,
        },
        published_version: None,
        reject_reason: None,
        creator: who.subject.clone(),
        create_time: now,
        update_time: now,
        change_seq: 0,
    };
    let new = NewArticle {
        article,
        event,
        actor_role: who.role_label().to_owned(),
    };
    match store.create_article(&new).await {
        Err(StoreError::NotFound(_)) => Err(ServiceError::invalid(
            "article.owner_unit",
            format!("no unit {}", draft.owner_unit.name()),
        )),
        other => Ok(other?),
    }
}

/// Drafts every article of `files` for `owner`, in file order; nothing is
/// written unless every file parses and every article is valid. Imported
/// articles are drafts: they still go through review.
pub async fn import_drafts(
    store: &dyn Store,
    who: &Principal,
    owner: UnitId,
    files: &[import::SourceFile],
    now: DateTime<Utc>,
) -> Result<Vec<Article>, ServiceError> {
    check_create(who, &owner)?;
    let mut contents = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let parsed = import::parse(file).map_err(|e| match e {
            ServiceError::InvalidField { field, message } => ServiceError::invalid(
                format!("files[{i}].{field}"),
                format!("{}: {message}", file.name),
            ),
            other => other,
        })?;
        contents.extend(parsed);
        if contents.len() > MAX_IMPORT {
            return Err(ServiceError::invalid(
                "files",
                format!("at most {MAX_IMPORT} articles per import"),
            ));
        }
    }
    for (i, content) in contents.iter().enumerate() {
        content
            .clone()
            .validated()
            .map_err(|e| ServiceError::from(e.within(&format!("articles[{i}]"))))?;
    }
    let mut created = Vec::with_capacity(contents.len());
    for content in contents {
        let draft = ArticleDraft {
            owner_unit: owner.clone(),
            content,
            id: None,
        };
        created.push(create_draft(store, who, draft, ArticleEventKind::Imported, now).await?);
    }
    Ok(created)
}
