//! Safe retries of article writes (AIP-155): the tickets' mechanism
//! (`service::workflow::idempotency`), applied to Create, Update, Submit,
//! Approve, Reject, Retire and Import.
//!
//! The key is scoped to the caller and bound to the request's fingerprint
//! by the API layer; the store records it in the write's own transaction,
//! naming the article(s) the write produced (an import names every one, in
//! order). A later use of the key by the same request is answered with
//! those articles as they are now, without acting again, before any etag
//! or state check (the first attempt already moved both); the key reused
//! for another method, another article or another request is refused
//! (`REQUEST_ID_REUSED`). A write that loses to a concurrent retry of
//! itself (the key is taken, or the article changed under it) replays the
//! winner's result instead of failing.

use crate::{
    domain::knowledge::{ArticleAction, ArticleId},
    service::{ServiceError, error::at, workflow::check_retry},
    store::{IdempotencyKey, StoreError},
};

use super::{Article, Knowledge};

/// The RPC an article action is, as recorded with its key.
pub(super) fn operation(action: &ArticleAction) -> &'static str {
    match action {
        ArticleAction::Update(_) => "UpdateArticle",
        ArticleAction::Submit => "SubmitArticle",
        ArticleAction::Approve => "ApproveArticle",
        ArticleAction::Reject { .. } => "RejectArticle",
        ArticleAction::Retire => "RetireArticle",
    }
}

impl Knowledge {
    /// The articles `key` produced before, as they are now, if the key was
    /// used by the same request on `expected` (the article the request
    /// names, if it names one); the key used for anything else is refused.
    pub(super) async fn replay(
        &self,
        key: Option<&IdempotencyKey>,
        expected: Option<ArticleId>,
    ) -> Result<Option<Vec<Article>>, ServiceError> {
        let Some(key) = key else { return Ok(None) };
        let store = self.workflow.store();
        let Some(previous) = store.find_idempotent(&key.subject, &key.request_id).await? else {
            return Ok(None);
        };
        check_retry(&previous, key, expected.map(|id| id.name()).as_deref())?;
        let mut articles = Vec::new();
        for name in previous.resource.split_whitespace() {
            let id = at(ArticleId::from_name(name), "request_id")?;
            articles.push(store.get_article(id).await?);
        }
        Ok(Some(articles))
    }

    /// [`Knowledge::replay`] of one article.
    pub(super) async fn replay_one(
        &self,
        key: Option<&IdempotencyKey>,
        expected: Option<ArticleId>,
    ) -> Result<Option<Article>, ServiceError> {
        Ok(self
            .replay(key, expected)
            .await?
            .and_then(|mut articles| articles.pop()))
    }

    /// After a keyed write was refused as `AlreadyExists` or `Conflict`: a
    /// concurrent retry of the same request may have committed first, and
    /// its result is the answer; otherwise the refusal stands.
    pub(super) async fn replay_refused(
        &self,
        key: Option<&IdempotencyKey>,
        expected: Option<ArticleId>,
        refusal: StoreError,
    ) -> Result<Vec<Article>, ServiceError> {
        let retried = matches!(
            refusal,
            StoreError::AlreadyExists(_) | StoreError::Conflict(_)
        );
        if retried && let Some(articles) = self.replay(key, expected).await? {
            return Ok(articles);
        }
        Err(refusal.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_records_its_own_rpc() {
        let names = [
            ArticleAction::Update(Default::default()),
            ArticleAction::Submit,
            ArticleAction::Approve,
            ArticleAction::Reject { reason: "x".into() },
            ArticleAction::Retire,
        ]
        .map(|a| operation(&a));
        assert_eq!(
            names,
            [
                "UpdateArticle",
                "SubmitArticle",
                "ApproveArticle",
                "RejectArticle",
                "RetireArticle"
            ]
        );
    }
}
