//! Knowledge-base articles in SQL, generic over the backend like `sql.rs`.
//! Every change takes the next change number, writes the article, its new
//! version if any, its audit event and the request's idempotency record in
//! one write transaction (see [`super::knowledge`] for why the change
//! number is taken there).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Connection, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Transaction, Type,
    pool::PoolConnection,
};

use super::{
    ArticleChange, ArticleQuery, ArticleUse, CounterScope, IdempotencyKey, KnowledgeHead,
    KnowledgeStore, NewArticle, ServedChange, StoreError, StoreResult, article_uses_sql,
    idempotency_sql::push_insert_keys,
    knowledge_rows::{
        ARTICLE_COLUMNS, ARTICLE_FROM, ArticleRow, ChangeRow, EVENT_COLUMNS, EventRow,
        VERSION_COLUMNS, VersionRow, corrupt, json_list, not_found,
    },
    query::{Conditions, Rows, Value, insert_one, int, opt_int, opt_text, push_in, text},
    rows::micros,
    sql::{Dialect, SqlStore},
};
use hotline_domain::{
    knowledge::{Article, ArticleContent, ArticleEvent, ArticleId, ArticleState, ArticleVersion},
    text_enum::TextEnum,
};

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
    let columns = VERSION_COLUMNS.replace("v.", "");
    let mut qb = insert_one::<DB>(
        "knowledge_article_versions",
        &columns,
        [
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
        ],
    );
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
    let mut qb = insert_one::<DB>(
        "knowledge_events",
        EVENT_COLUMNS,
        [
            text(event.article.to_string()),
            int(event.version),
            text(event.kind.code()),
            text(event.actor.as_str()),
            text(event.actor_role.as_str()),
            opt_text(event.note.as_deref()),
            int(micros(event.time)),
        ],
    );
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

/// Appends the change's audit event and reads the article as changed:
/// the end of every article write but the commit.
async fn audited<DB>(tx: &mut Transaction<'_, DB>, event: &ArticleEvent) -> StoreResult<Article>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    ArticleRow: for<'r> FromRow<'r, DB::Row>,
{
    insert_event(tx, event).await?;
    fetch_article(&mut **tx, event.article).await
}

/// Records what `key` produced (`articles`, named in order and separated
/// by spaces) inside `tx`, so the record commits with the write; a key
/// already used is `AlreadyExists`.
async fn record_key<DB>(
    tx: &mut Transaction<'_, DB>,
    key: Option<&IdempotencyKey>,
    articles: &[Article],
    at: DateTime<Utc>,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let Some(key) = key else { return Ok(()) };
    let names: Vec<String> = articles.iter().map(|a| a.id.name()).collect();
    let mut qb = QueryBuilder::<DB>::new("");
    push_insert_keys(&mut qb, &[(key, names.join(" "), micros(at))], Rows::Always);
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

/// Inserts a new article, its version 1 and its creation event inside
/// `tx`, with the next change number; returns it as stored.
async fn insert_article<DB>(tx: &mut Transaction<'_, DB>, new: &NewArticle) -> StoreResult<Article>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    ArticleRow: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let a = &new.article;
    let seq = next_change(tx).await?;
    let mut qb = insert_one::<DB>(
        "knowledge_articles",
        "id, owner_unit, state, version, published_version, reject_reason, creator, \
         create_time_us, update_time_us, change_seq",
        [
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
        ],
    );
    qb.build()
        .execute(&mut **tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            // The one reference: the owner unit.
            StoreError::NotFound(_) => StoreError::NotFound(a.owner_unit.name()),
            other => other,
        })?;
    let v = &a.latest;
    insert_version(tx, a.id, v.version, &v.content, &v.author, v.create_time).await?;
    let event = ArticleEvent {
        article: a.id,
        version: v.version,
        kind: new.event,
        actor: a.creator.clone(),
        actor_role: new.actor_role.clone(),
        note: None,
        time: a.create_time,
    };
    audited(tx, &event).await
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
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all, fields(articles = new.len()))]
    async fn create_articles(
        &self,
        new: &[NewArticle],
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Vec<Article>> {
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let mut tx = in_write(&mut conn).await?;
        let mut created = Vec::with_capacity(new.len());
        for new in new {
            created.push(insert_article(&mut tx, new).await?);
        }
        if let Some(first) = new.first() {
            record_key(&mut tx, key.as_ref(), &created, first.article.create_time).await?;
        }
        tx.commit().await?;
        Ok(created)
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
    async fn change_article(
        &self,
        change: &ArticleChange,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<Article> {
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
        let article = audited(&mut tx, &event).await?;
        record_key(
            &mut tx,
            key.as_ref(),
            std::slice::from_ref(&article),
            change.now,
        )
        .await?;
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
    async fn knowledge_head(&self) -> StoreResult<KnowledgeHead> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let (epoch, seq): (String, i64) =
            sqlx::query_as("SELECT epoch, seq FROM knowledge_cursor WHERE id = 1")
                .fetch_one(&mut *conn)
                .await?;
        Ok(KnowledgeHead { epoch, seq })
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
        owners: &CounterScope,
        limit: u32,
    ) -> StoreResult<Vec<ArticleUse>> {
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        article_uses_sql::article_uses(&mut conn, from, to, owners, limit).await
    }
}
