//! `hotline.v1.KnowledgeService`: articles, review, search, suggestions,
//! imports and citation counts. Conversion here; the rules in
//! `crate::service::knowledge`.

use std::sync::Arc;

use chrono::NaiveDate;
use hotline_knowledge::SearchHit;
use tonic::{Request, Response, Status};

use super::{
    idempotency::{IdempotentRequest, request_key},
    paging::{self, PageSize},
};
use crate::{
    auth::principal,
    domain::knowledge::{
        Article, ArticleAction, ArticleContent, ArticleEvent, ArticleId, ArticleState,
        ArticleVersion,
    },
    proto::{
        convert::{from_timestamp, to_timestamp, unit_id},
        v1::{self as pb, knowledge_service_server::KnowledgeService},
    },
    service::{
        ServiceError,
        knowledge::{ArticleDraft, Knowledge, import::SourceFile},
    },
    store::{ArticleQuery, ArticleUse},
};

/// Page sizes of the article and version lists.
const PAGE: PageSize = PageSize {
    default: 50,
    max: 500,
};

/// Page sizes of a search.
const SEARCH_PAGE: PageSize = PageSize {
    default: 10,
    max: 50,
};

/// Articles of a usage list.
const USAGE_PAGE: PageSize = PageSize {
    default: 20,
    max: 200,
};

/// Fields of an article an update may name in its mask.
const UPDATABLE: &[&str] = &[
    "title",
    "body",
    "subject_codes",
    "region_codes",
    "tags",
    "effective_date",
    "expire_date",
];

/// Implements `KnowledgeService`.
#[derive(Debug, Clone)]
pub(crate) struct KnowledgeApi {
    knowledge: Arc<Knowledge>,
}

impl KnowledgeApi {
    /// A service over the knowledge use cases.
    pub(crate) fn new(knowledge: Arc<Knowledge>) -> Self {
        Self { knowledge }
    }
}

fn article_id(name: &str, field: &str) -> Result<ArticleId, ServiceError> {
    ArticleId::from_name(name).map_err(|e| ServiceError::from(e.within(field)))
}

fn etag(etag: &str) -> Option<&str> {
    (!etag.is_empty()).then_some(etag)
}

fn date(value: &str, field: &str) -> Result<Option<NaiveDate>, ServiceError> {
    match value.trim() {
        "" => Ok(None),
        d => d
            .parse()
            .map(Some)
            .map_err(|_| ServiceError::invalid(field, "must be a YYYY-MM-DD date")),
    }
}

fn date_text(day: Option<NaiveDate>) -> String {
    day.map(|d| d.to_string()).unwrap_or_default()
}

/// The content an article message carries (validated by the domain).
fn content_of(a: &pb::Article) -> Result<ArticleContent, ServiceError> {
    Ok(ArticleContent {
        title: a.title.clone(),
        body: a.body.clone(),
        subjects: a.subject_codes.clone(),
        regions: a.region_codes.clone(),
        tags: a.tags.clone(),
        effective_from: date(&a.effective_date, "article.effective_date")?,
        expires_on: date(&a.expire_date, "article.expire_date")?,
    })
}

/// `current` with the fields named by `mask` taken from `input` (all
/// updatable fields when the mask is empty).
fn masked(
    current: &ArticleContent,
    input: ArticleContent,
    mask: &[String],
) -> Result<ArticleContent, ServiceError> {
    if mask.is_empty() {
        return Ok(input);
    }
    let mut out = current.clone();
    for path in mask {
        match path.as_str() {
            "title" => out.title.clone_from(&input.title),
            "body" => out.body.clone_from(&input.body),
            "subject_codes" => out.subjects.clone_from(&input.subjects),
            "region_codes" => out.regions.clone_from(&input.regions),
            "tags" => out.tags.clone_from(&input.tags),
            "effective_date" => out.effective_from = input.effective_from,
            "expire_date" => out.expires_on = input.expires_on,
            other => {
                return Err(ServiceError::invalid(
                    "update_mask",
                    format!(
                        "unknown or output-only field {other:?} (updatable: {})",
                        UPDATABLE.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn state_to_proto(state: ArticleState) -> pb::ArticleState {
    match state {
        ArticleState::Draft => pb::ArticleState::Draft,
        ArticleState::InReview => pb::ArticleState::InReview,
        ArticleState::Published => pb::ArticleState::Published,
        ArticleState::Retired => pb::ArticleState::Retired,
    }
}

fn state_filter(value: i32) -> Result<Option<ArticleState>, ServiceError> {
    match pb::ArticleState::try_from(value) {
        Ok(pb::ArticleState::Unspecified) => Ok(None),
        Ok(pb::ArticleState::Draft) => Ok(Some(ArticleState::Draft)),
        Ok(pb::ArticleState::InReview) => Ok(Some(ArticleState::InReview)),
        Ok(pb::ArticleState::Published) => Ok(Some(ArticleState::Published)),
        Ok(pb::ArticleState::Retired) => Ok(Some(ArticleState::Retired)),
        Err(_) => Err(ServiceError::invalid("state", "unknown article state")),
    }
}

fn article_to_proto(a: &Article) -> pb::Article {
    let c = &a.latest.content;
    pb::Article {
        name: a.id.name(),
        owner_unit: a.owner_unit.name(),
        state: state_to_proto(a.state).into(),
        title: c.title.clone(),
        body: c.body.clone(),
        subject_codes: c.subjects.clone(),
        region_codes: c.regions.clone(),
        tags: c.tags.clone(),
        effective_date: date_text(c.effective_from),
        expire_date: date_text(c.expires_on),
        version: a.latest.version,
        published_version: a.published_version.unwrap_or_default(),
        reject_reason: a.reject_reason.clone().unwrap_or_default(),
        creator: a.creator.clone(),
        create_time: Some(to_timestamp(a.create_time)),
        update_time: Some(to_timestamp(a.update_time)),
        etag: a.change_seq.to_string(),
    }
}

fn version_to_proto(v: &ArticleVersion) -> pb::ArticleVersion {
    let c = &v.content;
    pb::ArticleVersion {
        name: format!("{}/versions/{}", v.article.name(), v.version),
        version: v.version,
        title: c.title.clone(),
        body: c.body.clone(),
        subject_codes: c.subjects.clone(),
        region_codes: c.regions.clone(),
        tags: c.tags.clone(),
        effective_date: date_text(c.effective_from),
        expire_date: date_text(c.expires_on),
        author: v.author.clone(),
        create_time: Some(to_timestamp(v.create_time)),
    }
}

fn event_to_proto(e: &ArticleEvent) -> pb::ArticleEvent {
    pb::ArticleEvent {
        kind: e.kind.to_string(),
        version: e.version,
        actor: e.actor.clone(),
        actor_role: e.actor_role.clone(),
        note: e.note.clone().unwrap_or_default(),
        time: Some(to_timestamp(e.time)),
    }
}

fn hit_to_proto(h: &SearchHit) -> pb::ArticleHit {
    pb::ArticleHit {
        article: format!("articles/{}", h.id),
        version: h.version,
        title: h.title.clone(),
        snippet: h.snippet.clone(),
        score: h.score,
    }
}

fn reply(article: &Article) -> Option<pb::Article> {
    Some(article_to_proto(article))
}

/// A workflow verb's request: the article's name, the expected etag and
/// the idempotency key.
trait VerbRequest: IdempotentRequest {
    fn name(&self) -> &str;
    fn etag(&self) -> &str;
}

macro_rules! verb_requests {
    ($($t:ident),+ $(,)?) => {
        $(impl VerbRequest for pb::$t {
            fn name(&self) -> &str {
                &self.name
            }
            fn etag(&self) -> &str {
                &self.etag
            }
        })+
    };
}

verb_requests!(
    SubmitArticleRequest,
    ApproveArticleRequest,
    RejectArticleRequest,
    RetireArticleRequest,
);

impl KnowledgeApi {
    /// Runs the workflow verb `action` on the request's article; returns
    /// the article after it.
    async fn verb<R: VerbRequest>(
        &self,
        request: Request<R>,
        action: impl FnOnce(&R) -> ArticleAction,
    ) -> Result<Option<pb::Article>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let id = article_id(req.name(), "name")?;
        let key = request_key(&req);
        let article = self
            .knowledge
            .act(&principal, id, etag(req.etag()), &key, action(&req))
            .await?;
        Ok(reply(&article))
    }
}

#[tonic::async_trait]
impl KnowledgeService for KnowledgeApi {
    async fn create_article(
        &self,
        request: Request<pb::CreateArticleRequest>,
    ) -> Result<Response<pb::CreateArticleResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let key = request_key(&req);
        let a = req
            .article
            .ok_or_else(|| ServiceError::invalid("article", "required"))?;
        let id = match req.article_id.as_str() {
            "" => None,
            id => {
                Some(ArticleId::parse(id).map_err(|e| ServiceError::from(e.within("article_id")))?)
            }
        };
        let draft = ArticleDraft {
            owner_unit: unit_id(&a.owner_unit, "article.owner_unit")?,
            content: content_of(&a)?,
            id,
        };
        let article = self
            .knowledge
            .create_article(&principal, &key, draft)
            .await?;
        Ok(Response::new(pb::CreateArticleResponse {
            article: reply(&article),
        }))
    }

    async fn get_article(
        &self,
        request: Request<pb::GetArticleRequest>,
    ) -> Result<Response<pb::GetArticleResponse>, Status> {
        let principal = principal(&request)?;
        let id = article_id(&request.get_ref().name, "name")?;
        let article = self.knowledge.get_article(&principal, id).await?;
        Ok(Response::new(pb::GetArticleResponse {
            article: reply(&article),
        }))
    }

    async fn list_articles(
        &self,
        request: Request<pb::ListArticlesRequest>,
    ) -> Result<Response<pb::ListArticlesResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let limit = PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after: Option<String> = paging::decode(&req.page_token, &fp)?;
        let query = ArticleQuery {
            owner_unit: match req.owner_unit.as_str() {
                "" => None,
                name => Some(unit_id(name, "owner_unit")?),
            },
            state: state_filter(req.state)?,
            after: after.map(|id| article_id(&id, "page_token")).transpose()?,
            limit,
        };
        let articles = self.knowledge.list_articles(&principal, &query).await?;
        Ok(Response::new(pb::ListArticlesResponse {
            next_page_token: paging::next_token(&articles, limit, &fp, |a| a.id.name()),
            articles: articles.iter().map(article_to_proto).collect(),
        }))
    }

    async fn update_article(
        &self,
        request: Request<pb::UpdateArticleRequest>,
    ) -> Result<Response<pb::UpdateArticleResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let key = request_key(&req);
        let a = req
            .article
            .ok_or_else(|| ServiceError::invalid("article", "required"))?;
        let id = article_id(&a.name, "article.name")?;
        let mask = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let input = content_of(&a)?;
        let article = self
            .knowledge
            .update_article(&principal, id, etag(&a.etag), &key, |current| {
                masked(current, input, &mask)
            })
            .await?;
        Ok(Response::new(pb::UpdateArticleResponse {
            article: reply(&article),
        }))
    }

    async fn list_article_versions(
        &self,
        request: Request<pb::ListArticleVersionsRequest>,
    ) -> Result<Response<pb::ListArticleVersionsResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let id = article_id(&req.parent, "parent")?;
        let limit = PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after: Option<i64> = paging::decode(&req.page_token, &fp)?;
        let versions = self
            .knowledge
            .list_versions(&principal, id, after, limit)
            .await?;
        Ok(Response::new(pb::ListArticleVersionsResponse {
            next_page_token: paging::next_token(&versions, limit, &fp, |v| v.version),
            versions: versions.iter().map(version_to_proto).collect(),
        }))
    }

    async fn list_article_events(
        &self,
        request: Request<pb::ListArticleEventsRequest>,
    ) -> Result<Response<pb::ListArticleEventsResponse>, Status> {
        let principal = principal(&request)?;
        let id = article_id(&request.get_ref().parent, "parent")?;
        let events = self.knowledge.list_events(&principal, id).await?;
        Ok(Response::new(pb::ListArticleEventsResponse {
            events: events.iter().map(event_to_proto).collect(),
        }))
    }

    async fn submit_article(
        &self,
        request: Request<pb::SubmitArticleRequest>,
    ) -> Result<Response<pb::SubmitArticleResponse>, Status> {
        let article = self.verb(request, |_| ArticleAction::Submit).await?;
        Ok(Response::new(pb::SubmitArticleResponse { article }))
    }

    async fn approve_article(
        &self,
        request: Request<pb::ApproveArticleRequest>,
    ) -> Result<Response<pb::ApproveArticleResponse>, Status> {
        let article = self.verb(request, |_| ArticleAction::Approve).await?;
        Ok(Response::new(pb::ApproveArticleResponse { article }))
    }

    async fn reject_article(
        &self,
        request: Request<pb::RejectArticleRequest>,
    ) -> Result<Response<pb::RejectArticleResponse>, Status> {
        let article = self
            .verb(request, |r| ArticleAction::Reject {
                reason: r.reason.clone(),
            })
            .await?;
        Ok(Response::new(pb::RejectArticleResponse { article }))
    }

    async fn retire_article(
        &self,
        request: Request<pb::RetireArticleRequest>,
    ) -> Result<Response<pb::RetireArticleResponse>, Status> {
        let article = self.verb(request, |_| ArticleAction::Retire).await?;
        Ok(Response::new(pb::RetireArticleResponse { article }))
    }

    async fn search_articles(
        &self,
        request: Request<pb::SearchArticlesRequest>,
    ) -> Result<Response<pb::SearchArticlesResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let page_size = SEARCH_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let offset: usize = paging::decode(&req.page_token, &fp)?.unwrap_or(0);
        let page = self
            .knowledge
            .search(
                &principal,
                &req.query,
                &req.subject_code,
                &req.region_code,
                offset,
                page_size as usize,
            )
            .await?;
        let next = offset + page.hits.len();
        Ok(Response::new(pb::SearchArticlesResponse {
            hits: page.hits.iter().map(hit_to_proto).collect(),
            next_page_token: if page.more {
                paging::encode(&next, &fp)
            } else {
                String::new()
            },
        }))
    }

    async fn suggest_articles(
        &self,
        request: Request<pb::SuggestArticlesRequest>,
    ) -> Result<Response<pb::SuggestArticlesResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let k =
            u32::try_from(req.k).map_err(|_| ServiceError::invalid("k", "must not be negative"))?;
        let hits = self
            .knowledge
            .suggest(
                &principal,
                &req.title,
                &req.description,
                &req.region_code,
                &req.subject_code,
                k,
            )
            .await?;
        Ok(Response::new(pb::SuggestArticlesResponse {
            hits: hits.iter().map(hit_to_proto).collect(),
        }))
    }

    async fn import_articles(
        &self,
        request: Request<pb::ImportArticlesRequest>,
    ) -> Result<Response<pb::ImportArticlesResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let key = request_key(&req);
        let owner = unit_id(&req.owner_unit, "owner_unit")?;
        let files: Vec<SourceFile> = req
            .files
            .into_iter()
            .map(|f| SourceFile {
                name: f.file_name,
                content: f.content,
            })
            .collect();
        let articles = self
            .knowledge
            .import(&principal, owner, &files, &key)
            .await?;
        Ok(Response::new(pb::ImportArticlesResponse {
            articles: articles.iter().map(article_to_proto).collect(),
        }))
    }

    async fn list_article_usage(
        &self,
        request: Request<pb::ListArticleUsageRequest>,
    ) -> Result<Response<pb::ListArticleUsageResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let from = from_timestamp(
            req.start_time
                .as_ref()
                .ok_or_else(|| ServiceError::invalid("start_time", "required"))?,
            "start_time",
        )?;
        let to = match &req.end_time {
            Some(t) => from_timestamp(t, "end_time")?,
            None => self.knowledge.now(),
        };
        let limit = USAGE_PAGE.resolve(req.page_size)?;
        let usages = self.knowledge.usage(&principal, from, to, limit).await?;
        Ok(Response::new(pb::ListArticleUsageResponse {
            usages: usages.into_iter().map(article_usage).collect(),
        }))
    }
}

/// An article's citations as the API shows them.
pub(crate) fn article_usage((usage, title): (ArticleUse, Option<String>)) -> pb::ArticleUsage {
    pb::ArticleUsage {
        article: usage.article.name(),
        title: title.unwrap_or_default(),
        uses: usage.uses,
    }
}
