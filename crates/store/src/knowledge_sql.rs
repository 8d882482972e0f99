//! Knowledge-base articles in SQL, generic over the backend like `sql.rs`.
//! Every change takes the next change number, writes the article, its new
//! version if any and its audit event in one write transaction (see
//! [`super::knowledge`] for why the change number is taken there).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{
    Connection, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Transaction, Type,
    pool::PoolConnection,
};

use super::{
    ArticleChange, ArticleQuery, ArticleUse, KnowledgeStore, NewArticle, ServedChange, StoreError,
    StoreResult,
    query::{Conditions, Value, int, opt_int, opt_text, push_in, text},
    rows::{micros, time},
    sql::{Dialect, SqlStore},
};
use hotline_domain::{
    UnitId,
    event::{EventKind, ResolvedAtIntake},
    knowledge::{
        Article, ArticleContent, ArticleEvent, ArticleEventKind, ArticleId, ArticleState,
        ArticleVersion,
    },
    text_enum::TextEnum,
};

/// The columns of a version row, in [`VersionRow`]'s order (alias `v`).
const VERSION_COLUMNS: &str = "v.article_id, v.version, v.title, v.body, v.subjects, v.regions, \
     v.tags, v.effective_from, v.expires_on, v.author, v.create_time_us";

/// The columns of an article row after its version's, in
/// [`ArticleRow`]'s order (alias `a`).
const ARTICLE_COLUMNS: &str = "a.owner_unit, a.state, a.published_version, a.reject_reason, \
     a.creator, a.create_time_us AS article_create_time_us, a.update_time_us, a.change_seq";

/// The latest version of each article joined to it.
const ARTICLE_FROM: &str = "FROM knowledge_articles a JOIN knowledge_article_versions v \
     ON v.article_id = a.id AND v.version = a.version";

/// The columns of an event row, `id` aside.
const EVENT_COLUMNS: &str = "article_id, version, kind, actor, actor_role, note, time_us";

/// One `knowledge_article_versions` row.
#[derive(Debug, FromRow)]
pub(super) struct VersionRow {
    article_id: String,
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

fn corrupt(what: &str, id: &str) -> StoreError {
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

fn json_list(values: &[String]) -> String {
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
    id: String,
    change_seq: i64,
    served_version: Option<i64>,
}

/// A resolved-at-intake payload's citations (absent before citations were
/// recorded).
#[derive(Debug, serde::Deserialize)]
struct Citations {
    #[serde(default)]
    article_ids: Vec<String>,
}

fn not_found(id: ArticleId) -> StoreError {
    StoreError::NotFound(id.name())
}

/// Takes the next change number inside `tx` (locking the cursor row).
async fn next_change<DB>(tx: &mut Transaction<'_, DB>) -> StoreResult<i64>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let (seq,): (i64,) =
        sqlx::query_as("UPDATE knowledge_cursor SET seq = seq + 1 WHERE id = 1 RETURNING seq")
            .fetch_one(&mut **tx)
            .await?;
    Ok(seq)
}

/// Inserts version `version` of `article` inside `tx`.
async fn insert_version<DB>(
    tx: &mut Transaction<'_, DB>,
    article: ArticleId,
    version: i64,
    content: &ArticleContent,
    author: &str,
    at: DateTime<Utc>,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(format!(
        "INSERT INTO knowledge_article_versions ({}) VALUES (",
        VERSION_COLUMNS.replace("v.", "")
    ));
    let mut values = qb.separated(", ");
    for value in [
        text(article.to_string()),
        int(version),
        text(content.title.as_str()),
        text(content.body.as_str()),
        text(json_list(&content.subjects)),
        text(json_list(&content.regions)),
        text(json_list(&content.tags)),
        opt_text(content.effective_from.map(|d| d.to_string())),
        opt_text(content.expires_on.map(|d| d.to_string())),
        text(author),
        int(micros(at)),
    ] {
        values.push_bind(value);
    }
    qb.push(")");
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

/// Appends an audit event inside `tx`.
async fn insert_event<DB>(tx: &mut Transaction<'_, DB>, event: &ArticleEvent) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(format!(
        "INSERT INTO knowledge_events ({EVENT_COLUMNS}) VALUES ("
    ));
    let mut values = qb.separated(", ");
    for value in [
        text(event.article.to_string()),
        int(event.version),
        text(event.kind.code()),
        text(event.actor.as_str()),
        text(event.actor_role.as_str()),
        opt_text(event.note.as_deref()),
        int(micros(event.time)),
    ] {
        values.push_bind(value);
    }
    qb.push(")");
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

/// Reads one article (latest version) on `conn`.
async fn fetch_article<'c, DB, E>(conn: E, id: ArticleId) -> StoreResult<Article>
where
    DB: Dialect,
    E: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    ArticleRow: for<'r> FromRow<'r, DB::Row>,
{
    let mut qb = QueryBuilder::<DB>::new(format!(
        "SELECT {VERSION_COLUMNS}, {ARTICLE_COLUMNS} {ARTICLE_FROM} WHERE a.id = "
    ));
    qb.push_bind(text(id.to_string()));
    let row: Option<ArticleRow> = qb.build_query_as().fetch_optional(conn).await?;
    Article::try_from(row.ok_or_else(|| not_found(id))?)
}

/// Runs `write` in a write transaction on `conn`.
async fn in_write<DB>(conn: &mut PoolConnection<DB>) -> StoreResult<Transaction<'_, DB>>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    Ok(conn.begin_with(DB::BEGIN_WRITE).await?)
}

#[async_trait]
impl<DB> KnowledgeStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    ArticleRow: for<'r> FromRow<'r, DB::Row>,
    VersionRow: for<'r> FromRow<'r, DB::Row>,
    EventRow: for<'r> FromRow<'r, DB::Row>,
    ChangeRow: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn create_article(&self, new: &NewArticle) -> StoreResult<Article> {
        let a = &new.article;
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx = in_write(&mut conn).await?;
        let seq = next_change(&mut tx).await?;
        let mut qb = QueryBuilder::<DB>::new(
            "INSERT INTO knowledge_articles (id, owner_unit, state, version, published_version, \
             reject_reason, creator, create_time_us, update_time_us, change_seq) VALUES (",
        );
        let mut values = qb.separated(", ");
        for value in [
            text(a.id.to_string()),
            text(a.owner_unit.as_str()),
            text(a.state.code()),
            int(a.latest.version),
            opt_int(a.published_version),
            opt_text(a.reject_reason.as_deref()),
            text(a.creator.as_str()),
            int(micros(a.create_time)),
            int(micros(a.update_time)),
            int(seq),
        ] {
            values.push_bind(value);
        }
        qb.push(")");
        qb.build()
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                // The one reference: the owner unit.
                StoreError::NotFound(_) => StoreError::NotFound(a.owner_unit.name()),
                other => other,
            })?;
        let v = &a.latest;
        insert_version(
            &mut tx,
            a.id,
            v.version,
            &v.content,
            &v.author,
            v.create_time,
        )
        .await?;
        let event = ArticleEvent {
            article: a.id,
            version: v.version,
            kind: new.event,
            actor: a.creator.clone(),
            actor_role: new.actor_role.clone(),
            note: None,
            time: a.create_time,
        };
        insert_event(&mut tx, &event).await?;
        let article = fetch_article(&mut *tx, a.id).await?;
        tx.commit().await?;
        Ok(article)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_article(&self, id: ArticleId) -> StoreResult<Article> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        fetch_article(&mut *conn, id).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_articles(&self, query: &ArticleQuery) -> StoreResult<Vec<Article>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {VERSION_COLUMNS}, {ARTICLE_COLUMNS} {ARTICLE_FROM}"
        ));
        let mut conditions = Conditions::new(&mut qb);
        if let Some(unit) = &query.owner_unit {
            conditions
                .and()
                .push("a.owner_unit = ")
                .push_bind(text(unit.as_str()));
        }
        if let Some(state) = query.state {
            conditions
                .and()
                .push("a.state = ")
                .push_bind(text(state.code()));
        }
        if let Some(after) = query.after {
            conditions
                .and()
                .push("a.id > ")
                .push_bind(text(after.to_string()));
        }
        conditions
            .finish()
            .push(" ORDER BY a.id LIMIT ")
            .push_bind(int(query.limit));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<ArticleRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        rows.into_iter().map(Article::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_article_versions(
        &self,
        id: ArticleId,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ArticleVersion>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {VERSION_COLUMNS} FROM knowledge_article_versions v WHERE v.article_id = "
        ));
        qb.push_bind(text(id.to_string()))
            .push(" AND v.version > ")
            .push_bind(int(after.unwrap_or(0)))
            .push(" ORDER BY v.version LIMIT ")
            .push_bind(int(limit));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<VersionRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        if rows.is_empty() && after.is_none() {
            // An article always has version 1: none means no article.
            return Err(not_found(id));
        }
        rows.into_iter().map(ArticleVersion::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn change_article(&self, change: &ArticleChange) -> StoreResult<Article> {
        let outcome = &change.outcome;
        let version = match outcome.new_content {
            Some(_) => change.latest_version + 1,
            None => change.latest_version,
        };
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx = in_write(&mut conn).await?;
        let seq = next_change(&mut tx).await?;
        let mut qb = QueryBuilder::<DB>::new("UPDATE knowledge_articles SET state = ");
        qb.push_bind(text(outcome.state.code()))
            .push(", version = ")
            .push_bind(int(version))
            .push(", published_version = ")
            .push_bind(opt_int(outcome.published_version))
            .push(", reject_reason = ")
            .push_bind(opt_text(outcome.reject_reason.as_deref()))
            .push(", update_time_us = ")
            .push_bind(int(micros(change.now)))
            .push(", change_seq = ")
            .push_bind(int(seq))
            .push(" WHERE id = ")
            .push_bind(text(change.id.to_string()))
            .push(" AND change_seq = ")
            .push_bind(int(change.expected_change_seq))
            .push(" RETURNING id");
        let updated: Option<(String,)> = qb.build_query_as().fetch_optional(&mut *tx).await?;
        if updated.is_none() {
            // Tell a lost race from a missing article.
            fetch_article(&mut *tx, change.id).await?;
            return Err(StoreError::Conflict(format!(
                "{} changed since it was read",
                change.id.name()
            )));
        }
        if let Some(content) = &outcome.new_content {
            insert_version(
                &mut tx,
                change.id,
                version,
                content,
                &change.actor,
                change.now,
            )
            .await?;
        }
        let event = ArticleEvent {
            article: change.id,
            version,
            kind: outcome.event,
            actor: change.actor.clone(),
            actor_role: change.actor_role.clone(),
            note: outcome.note.clone(),
            time: change.now,
        };
        insert_event(&mut tx, &event).await?;
        let article = fetch_article(&mut *tx, change.id).await?;
        tx.commit().await?;
        Ok(article)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn article_events(&self, id: ArticleId) -> StoreResult<Vec<ArticleEvent>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM knowledge_events WHERE article_id = "
        ));
        qb.push_bind(text(id.to_string())).push(" ORDER BY id");
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<EventRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        rows.into_iter().map(ArticleEvent::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn served_changes(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<ServedChange>> {
        let mut qb = QueryBuilder::<DB>::new("SELECT id, change_seq, CASE WHEN state = ");
        qb.push_bind(text(ArticleState::Retired.code()))
            .push(
                " THEN NULL ELSE published_version END AS served_version \
                 FROM knowledge_articles WHERE change_seq > ",
            )
            .push_bind(int(after_seq))
            .push(" ORDER BY change_seq LIMIT ")
            .push_bind(int(limit));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let changes: Vec<ChangeRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        let wanted: Vec<(&str, i64)> = changes
            .iter()
            .filter_map(|c| c.served_version.map(|v| (c.id.as_str(), v)))
            .collect();
        let mut versions: HashMap<String, ArticleVersion> = HashMap::new();
        for chunk in wanted.chunks(200) {
            let mut qb = QueryBuilder::<DB>::new(format!(
                "SELECT {VERSION_COLUMNS} FROM knowledge_article_versions v WHERE "
            ));
            for (i, (id, version)) in chunk.iter().enumerate() {
                qb.push(if i == 0 { "(" } else { " OR (" })
                    .push("v.article_id = ")
                    .push_bind(text(*id))
                    .push(" AND v.version = ")
                    .push_bind(int(*version))
                    .push(")");
            }
            let rows: Vec<VersionRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
            for row in rows {
                versions.insert(row.article_id.clone(), ArticleVersion::try_from(row)?);
            }
        }
        changes
            .into_iter()
            .map(|c| {
                Ok(ServedChange {
                    id: ArticleId::parse(&c.id).map_err(|_| corrupt("id", &c.id))?,
                    change_seq: c.change_seq,
                    served: versions.remove(&c.id),
                })
            })
            .collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn knowledge_head(&self) -> StoreResult<i64> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let (seq,): (i64,) = sqlx::query_as("SELECT seq FROM knowledge_cursor WHERE id = 1")
            .fetch_one(&mut *conn)
            .await?;
        Ok(seq)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn served_versions(&self, ids: &[ArticleId]) -> StoreResult<Vec<ArticleVersion>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {VERSION_COLUMNS} FROM knowledge_article_versions v JOIN knowledge_articles a \
             ON a.id = v.article_id AND v.version = a.published_version WHERE a.state <> "
        ));
        qb.push_bind(text(ArticleState::Retired.code()))
            .push(" AND ");
        push_in(&mut qb, "a.id", ids.iter().map(|id| text(id.to_string())));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<VersionRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        rows.into_iter().map(ArticleVersion::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn article_uses(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ArticleUse>> {
        let mut qb = QueryBuilder::<DB>::new("SELECT payload FROM ticket_events WHERE kind = ");
        qb.push_bind(text(resolved_kind()))
            .push(" AND time_us >= ")
            .push_bind(int(micros(from)))
            .push(" AND time_us < ")
            .push_bind(int(micros(to)));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let payloads: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *conn).await?;
        let mut counts: HashMap<ArticleId, i64> = HashMap::new();
        for (payload,) in payloads {
            let citations: Citations = serde_json::from_str(&payload)
                .map_err(|e| StoreError::internal_from("a resolved_at_intake payload", e))?;
            for id in citations.article_ids {
                let id = ArticleId::parse(&id)
                    .map_err(|_| StoreError::internal(format!("cited article {id:?}")))?;
                *counts.entry(id).or_default() += 1;
            }
        }
        let mut uses: Vec<ArticleUse> = counts
            .into_iter()
            .map(|(article, uses)| ArticleUse { article, uses })
            .collect();
        uses.sort_by(|a, b| b.uses.cmp(&a.uses).then(a.article.cmp(&b.article)));
        uses.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(uses)
    }
}

/// The stored kind of a resolution at intake.
fn resolved_kind() -> &'static str {
    EventKind::ResolvedAtIntake(ResolvedAtIntake {
        answer: String::new(),
        article_ids: Vec::new(),
    })
    .event_type()
}
