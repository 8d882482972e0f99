//! The rows of the knowledge-base tables and their conversion to domain
//! values (`knowledge_sql` holds the statements).

use chrono::NaiveDate;
use sqlx::FromRow;

use super::{StoreError, StoreResult, rows::time};
use hotline_domain::{
    UnitId,
    knowledge::{
        Article, ArticleContent, ArticleEvent, ArticleEventKind, ArticleId, ArticleState,
        ArticleVersion,
    },
    text_enum::TextEnum,
};

/// The columns of a version row, in [`VersionRow`]'s order (alias `v`).
pub(super) const VERSION_COLUMNS: &str = "v.article_id, v.version, v.title, v.body, v.subjects, v.regions, \
     v.tags, v.effective_from, v.expires_on, v.author, v.create_time_us";

/// The columns of an article row after its version's, in
/// [`ArticleRow`]'s order (alias `a`).
pub(super) const ARTICLE_COLUMNS: &str = "a.owner_unit, a.state, a.published_version, a.reject_reason, \
     a.creator, a.create_time_us AS article_create_time_us, a.update_time_us, a.change_seq";

/// The latest version of each article joined to it.
pub(super) const ARTICLE_FROM: &str = "FROM knowledge_articles a JOIN knowledge_article_versions v \
     ON v.article_id = a.id AND v.version = a.version";

/// The columns of an event row, `id` aside.
pub(super) const EVENT_COLUMNS: &str =
    "article_id, version, kind, actor, actor_role, note, time_us";

/// One `knowledge_article_versions` row.
#[derive(Debug, FromRow)]
pub(super) struct VersionRow {
    pub(super) article_id: String,
    version: i64,
    title: String,
    body: String,
    subjects: String,
    regions: String,
    tags: String,
    effective_from: Option<String>,
    expires_on: Option<String>,
    author: String,
    create_time_us: i64,
}

pub(super) fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::internal(format!("article {id}: bad {what}"))
}

fn list(json: &str, what: &str, id: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(json).map_err(|_| corrupt(what, id))
}

fn date(value: Option<&str>, what: &str, id: &str) -> StoreResult<Option<NaiveDate>> {
    value
        .map(|d| d.parse::<NaiveDate>().map_err(|_| corrupt(what, id)))
        .transpose()
}

pub(super) fn json_list(values: &[String]) -> String {
    serde_json::Value::from(values.to_vec()).to_string()
}

impl TryFrom<VersionRow> for ArticleVersion {
    type Error = StoreError;

    fn try_from(r: VersionRow) -> StoreResult<Self> {
        let id = r.article_id.as_str();
        Ok(Self {
            article: ArticleId::parse(id).map_err(|_| corrupt("id", id))?,
            version: r.version,
            content: ArticleContent {
                subjects: list(&r.subjects, "subjects", id)?,
                regions: list(&r.regions, "regions", id)?,
                tags: list(&r.tags, "tags", id)?,
                effective_from: date(r.effective_from.as_deref(), "effective date", id)?,
                expires_on: date(r.expires_on.as_deref(), "expiry date", id)?,
                title: r.title,
                body: r.body,
            },
            author: r.author,
            create_time: time(r.create_time_us)?,
        })
    }
}

/// An article joined to its latest version.
#[derive(Debug, FromRow)]
pub(super) struct ArticleRow {
    #[sqlx(flatten)]
    version: VersionRow,
    owner_unit: String,
    state: String,
    published_version: Option<i64>,
    reject_reason: Option<String>,
    creator: String,
    article_create_time_us: i64,
    update_time_us: i64,
    change_seq: i64,
}

impl TryFrom<ArticleRow> for Article {
    type Error = StoreError;

    fn try_from(r: ArticleRow) -> StoreResult<Self> {
        let id = r.version.article_id.clone();
        let latest = ArticleVersion::try_from(r.version)?;
        Ok(Self {
            id: latest.article,
            owner_unit: UnitId::parse(&r.owner_unit).map_err(|_| corrupt("owner", &id))?,
            state: ArticleState::from_code(&r.state).ok_or_else(|| corrupt("state", &id))?,
            latest,
            published_version: r.published_version,
            reject_reason: r.reject_reason,
            creator: r.creator,
            create_time: time(r.article_create_time_us)?,
            update_time: time(r.update_time_us)?,
            change_seq: r.change_seq,
        })
    }
}

/// One `knowledge_events` row.
#[derive(Debug, FromRow)]
pub(super) struct EventRow {
    article_id: String,
    version: i64,
    kind: String,
    actor: String,
    actor_role: String,
    note: Option<String>,
    time_us: i64,
}

impl TryFrom<EventRow> for ArticleEvent {
    type Error = StoreError;

    fn try_from(r: EventRow) -> StoreResult<Self> {
        let id = r.article_id.as_str();
        Ok(Self {
            article: ArticleId::parse(id).map_err(|_| corrupt("id", id))?,
            version: r.version,
            kind: ArticleEventKind::from_code(&r.kind).ok_or_else(|| corrupt("event kind", id))?,
            actor: r.actor,
            actor_role: r.actor_role,
            note: r.note,
            time: time(r.time_us)?,
        })
    }
}

/// An article's change as a follower reads it.
#[derive(Debug, FromRow)]
pub(super) struct ChangeRow {
    pub(super) id: String,
    pub(super) change_seq: i64,
    pub(super) served_version: Option<i64>,
}

pub(super) fn not_found(id: ArticleId) -> StoreError {
    StoreError::NotFound(id.name())
}
