//! The KnowledgeService client of the knowledge tests: one principal's
//! calls, and articles that apply on the test clock's day (2026-11-23).

use hotline::proto::v1::{self as pb, knowledge_service_client::KnowledgeServiceClient};
use tonic::{Code, Status, transport::Channel};

use crate::helpers::{As, TestApp, authed};

/// A principal's knowledge-base calls.
#[derive(Clone)]
pub(crate) struct Kb {
    token: String,
    client: KnowledgeServiceClient<Channel>,
}

impl As {
    /// This principal's knowledge-base client.
    pub(crate) fn kb(&self) -> Kb {
        Kb {
            token: self.token.clone(),
            client: KnowledgeServiceClient::new(self.channel()),
        }
    }
}

/// An article owned by `market-regulation` (of `seed_directory`), city-wide,
/// in force in 2026.
pub(crate) fn article(title: &str, body: &str) -> pb::Article {
    pb::Article {
        owner_unit: "units/market-regulation".into(),
        title: title.into(),
        body: body.into(),
        subject_codes: vec!["01.02".into()],
        tags: vec!["办事指南".into()],
        effective_date: "2026-01-01".into(),
        expire_date: "2026-12-31".into(),
        ..Default::default()
    }
}

/// An update of the fields in `mask` to `a`'s, under `request_id`.
pub(crate) fn update_request(
    a: pb::Article,
    mask: &[&str],
    request_id: &str,
) -> pb::UpdateArticleRequest {
    pb::UpdateArticleRequest {
        article: Some(a),
        update_mask: Some(prost_types::FieldMask {
            paths: mask.iter().map(|p| (*p).to_owned()).collect(),
        }),
        request_id: request_id.into(),
    }
}

/// The gas-repair answer most tests publish.
pub(crate) fn gas_article() -> pb::Article {
    article(
        "燃气泄漏报修电话",
        "发现燃气泄漏请立即关闭阀门，开窗通风，到室外拨打燃气公司 24 小时抢修电话 96777。",
    )
}

impl Kb {
    pub(crate) async fn create(&mut self, a: pb::Article) -> Result<pb::Article, Status> {
        self.create_with_id(a, "").await
    }

    /// Creates with a client-chosen id (a retry meets ALREADY_EXISTS).
    pub(crate) async fn create_with_id(
        &mut self,
        a: pb::Article,
        id: &str,
    ) -> Result<pb::Article, Status> {
        self.create_with(pb::CreateArticleRequest {
            article: Some(a),
            article_id: id.into(),
            ..Default::default()
        })
        .await
    }

    pub(crate) async fn create_with(
        &mut self,
        req: pb::CreateArticleRequest,
    ) -> Result<pb::Article, Status> {
        let resp = self.client.create_article(authed(&self.token, req)).await?;
        Ok(resp.into_inner().article.unwrap())
    }

    pub(crate) async fn get(&mut self, name: &str) -> Result<pb::Article, Status> {
        let req = pb::GetArticleRequest { name: name.into() };
        let resp = self.client.get_article(authed(&self.token, req)).await?;
        Ok(resp.into_inner().article.unwrap())
    }

    pub(crate) async fn update(
        &mut self,
        a: pb::Article,
        mask: &[&str],
    ) -> Result<pb::Article, Status> {
        self.update_with(update_request(a, mask, "")).await
    }

    pub(crate) async fn update_with(
        &mut self,
        req: pb::UpdateArticleRequest,
    ) -> Result<pb::Article, Status> {
        let resp = self.client.update_article(authed(&self.token, req)).await?;
        Ok(resp.into_inner().article.unwrap())
    }

    pub(crate) async fn submit(&mut self, name: &str) -> Result<pb::Article, Status> {
        self.submit_with(pb::SubmitArticleRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
    }

    pub(crate) async fn submit_with(
        &mut self,
        req: pb::SubmitArticleRequest,
    ) -> Result<pb::Article, Status> {
        let resp = self.client.submit_article(authed(&self.token, req)).await?;
        Ok(resp.into_inner().article.unwrap())
    }

    pub(crate) async fn approve(&mut self, name: &str) -> Result<pb::Article, Status> {
        self.approve_with(pb::ApproveArticleRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
    }

    pub(crate) async fn approve_with(
        &mut self,
        req: pb::ApproveArticleRequest,
    ) -> Result<pb::Article, Status> {
        let resp = self
            .client
            .approve_article(authed(&self.token, req))
            .await?;
        Ok(resp.into_inner().article.unwrap())
    }

    pub(crate) async fn reject(&mut self, name: &str, reason: &str) -> Result<pb::Article, Status> {
        self.reject_with(pb::RejectArticleRequest {
            name: name.into(),
            reason: reason.into(),
            ..Default::default()
        })
        .await
    }

    pub(crate) async fn reject_with(
        &mut self,
        req: pb::RejectArticleRequest,
    ) -> Result<pb::Article, Status> {
        let resp = self.client.reject_article(authed(&self.token, req)).await?;
        Ok(resp.into_inner().article.unwrap())
    }

    pub(crate) async fn retire(&mut self, name: &str) -> Result<pb::Article, Status> {
        self.retire_with(pb::RetireArticleRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
    }

    pub(crate) async fn retire_with(
        &mut self,
        req: pb::RetireArticleRequest,
    ) -> Result<pb::Article, Status> {
        let resp = self.client.retire_article(authed(&self.token, req)).await?;
        Ok(resp.into_inner().article.unwrap())
    }

    pub(crate) async fn versions(&mut self, name: &str) -> Vec<pb::ArticleVersion> {
        let req = pb::ListArticleVersionsRequest {
            parent: name.into(),
            ..Default::default()
        };
        let resp = self.client.list_article_versions(authed(&self.token, req));
        resp.await.unwrap().into_inner().versions
    }

    pub(crate) async fn events(&mut self, name: &str) -> Vec<pb::ArticleEvent> {
        let req = pb::ListArticleEventsRequest {
            parent: name.into(),
        };
        let resp = self.client.list_article_events(authed(&self.token, req));
        resp.await.unwrap().into_inner().events
    }

    pub(crate) async fn list(
        &mut self,
        req: pb::ListArticlesRequest,
    ) -> Result<pb::ListArticlesResponse, Status> {
        let resp = self.client.list_articles(authed(&self.token, req)).await?;
        Ok(resp.into_inner())
    }

    pub(crate) async fn search(
        &mut self,
        req: pb::SearchArticlesRequest,
    ) -> Result<pb::SearchArticlesResponse, Status> {
        let resp = self
            .client
            .search_articles(authed(&self.token, req))
            .await?;
        Ok(resp.into_inner())
    }

    /// The names a search for `query` finds.
    pub(crate) async fn found(&mut self, query: &str) -> Vec<String> {
        let req = pb::SearchArticlesRequest {
            query: query.into(),
            ..Default::default()
        };
        let hits = self.search(req).await.unwrap().hits;
        hits.into_iter().map(|h| h.article).collect()
    }

    /// A search for `query`, its refusal kept.
    pub(crate) async fn found_checked(&mut self, query: &str) -> Result<Vec<String>, Status> {
        let req = pb::SearchArticlesRequest {
            query: query.into(),
            ..Default::default()
        };
        let hits = self.search(req).await?.hits;
        Ok(hits.into_iter().map(|h| h.article).collect())
    }

    pub(crate) async fn suggest(
        &mut self,
        req: pb::SuggestArticlesRequest,
    ) -> Result<Vec<pb::ArticleHit>, Status> {
        let resp = self
            .client
            .suggest_articles(authed(&self.token, req))
            .await?;
        Ok(resp.into_inner().hits)
    }

    pub(crate) async fn import(
        &mut self,
        req: pb::ImportArticlesRequest,
    ) -> Result<Vec<pb::Article>, Status> {
        let resp = self
            .client
            .import_articles(authed(&self.token, req))
            .await?;
        Ok(resp.into_inner().articles)
    }

    pub(crate) async fn usage(
        &mut self,
        req: pb::ListArticleUsageRequest,
    ) -> Result<Vec<pb::ArticleUsage>, Status> {
        let resp = self
            .client
            .list_article_usage(authed(&self.token, req))
            .await?;
        Ok(resp.into_inner().usages)
    }
}

/// Drafts, submits and approves `a`: a unit user of its owner writes it,
/// a supervisor approves it. Returns the published article.
pub(crate) async fn publish(app: &TestApp, a: pb::Article) -> pb::Article {
    let mut unit = app.unit_user("market-regulation").kb();
    let draft = unit.create(a).await.unwrap();
    unit.submit(&draft.name).await.unwrap();
    app.supervisor("3301")
        .kb()
        .approve(&draft.name)
        .await
        .unwrap()
}

/// Asserts a call was refused with `code`; returns its message.
pub(crate) fn refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> String {
    match result {
        Err(status) if status.code() == code => status.message().to_owned(),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}
