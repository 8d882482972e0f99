//! Attachments' metadata and audit trail in SQL, generic over the backend
//! like `sql.rs`. Every change that has an audit event commits with it in
//! one transaction on the write pool.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Connection, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Transaction, Type,
    pool::PoolConnection,
};

use super::{
    AttachmentRemoval, AttachmentStore, StoreError, StoreResult,
    query::{Value, flag, insert_one, int, opt_text, text},
    rows::{micros, time},
    sql::{Dialect, SqlStore},
};
use hotline_domain::{
    TicketId, TicketState,
    attachment::{Attachment, AttachmentEvent, AttachmentEventKind, AttachmentId, AttachmentState},
    text_enum::TextEnum,
};

/// The columns of an attachment row, in [`AttachmentRow`]'s order.
const COLUMNS: &str = "id, ticket_id, state, file_name, content_type, size_bytes, sha256, \
     shared_with_units, upload_id, uploader, uploader_role, create_time_us";

/// The columns of an event row, `id` aside.
const EVENT_COLUMNS: &str =
    "attachment_id, ticket_id, kind, actor, actor_role, file_name, sha256, time_us";

/// `state IN (…)` of the terminal ticket states: closed for retention.
static TERMINAL: LazyLock<String> = LazyLock::new(|| {
    let codes: Vec<String> = TicketState::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| format!("'{}'", s.code()))
        .collect();
    format!("t.state IN ({})", codes.join(", "))
});

/// One `attachments` row.
#[derive(Debug, FromRow)]
pub(super) struct AttachmentRow {
    id: String,
    ticket_id: String,
    state: String,
    file_name: String,
    content_type: String,
    size_bytes: i64,
    sha256: String,
    shared_with_units: bool,
    upload_id: Option<String>,
    uploader: String,
    uploader_role: String,
    create_time_us: i64,
}

impl TryFrom<AttachmentRow> for Attachment {
    type Error = StoreError;

    fn try_from(r: AttachmentRow) -> StoreResult<Self> {
        let corrupt = |what: &str| StoreError::internal(format!("attachment {}: bad {what}", r.id));
        Ok(Self {
            id: AttachmentId::parse(&r.id).map_err(|_| corrupt("id"))?,
            ticket: TicketId::parse(&r.ticket_id).map_err(|_| corrupt("ticket id"))?,
            state: AttachmentState::from_code(&r.state).ok_or_else(|| corrupt("state"))?,
            file_name: r.file_name,
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            shared_with_units: r.shared_with_units,
            upload_id: r.upload_id,
            uploader: r.uploader,
            uploader_role: r.uploader_role,
            create_time: time(r.create_time_us)?,
        })
    }
}

/// One `attachment_events` row.
#[derive(Debug, FromRow)]
pub(super) struct AttachmentEventRow {
    attachment_id: String,
    ticket_id: String,
    kind: String,
    actor: String,
    actor_role: String,
    file_name: String,
    sha256: String,
    time_us: i64,
}

impl TryFrom<AttachmentEventRow> for AttachmentEvent {
    type Error = StoreError;

    fn try_from(r: AttachmentEventRow) -> StoreResult<Self> {
        let corrupt = |what: &str| {
            StoreError::internal(format!(
                "attachment event of {}: bad {what}",
                r.attachment_id
            ))
        };
        Ok(Self {
            attachment: AttachmentId::parse(&r.attachment_id).map_err(|_| corrupt("id"))?,
            ticket: TicketId::parse(&r.ticket_id).map_err(|_| corrupt("ticket id"))?,
            kind: AttachmentEventKind::from_code(&r.kind).ok_or_else(|| corrupt("kind"))?,
            actor: r.actor,
            actor_role: r.actor_role,
            file_name: r.file_name,
            sha256: r.sha256,
            time: time(r.time_us)?,
        })
    }
}

fn attachments(rows: Vec<AttachmentRow>) -> StoreResult<Vec<Attachment>> {
    rows.into_iter().map(Attachment::try_from).collect()
}

/// Appends an audit event inside `tx`.
async fn insert_event<DB>(
    tx: &mut Transaction<'_, DB>,
    attachment: &Attachment,
    kind: AttachmentEventKind,
    actor: &str,
    actor_role: &str,
    at: DateTime<Utc>,
) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let mut qb = insert_one::<DB>(
        "attachment_events",
        EVENT_COLUMNS,
        [
            text(attachment.id.to_string()),
            text(attachment.ticket.to_string()),
            text(kind.code()),
            text(actor),
            text(actor_role),
            text(attachment.file_name.as_str()),
            text(attachment.sha256.as_str()),
            int(micros(at)),
        ],
    );
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

/// Runs `change` (a statement returning the attachment's row) and appends
/// its audit event of `kind` by `by` (actor and role; `None`: the
/// uploader) at `at`, in one write transaction; NotFound, nothing
/// written, when no row matched.
async fn change_audited<DB>(
    conn: &mut PoolConnection<DB>,
    mut change: QueryBuilder<DB>,
    id: AttachmentId,
    kind: AttachmentEventKind,
    by: Option<(&str, &str)>,
    at: DateTime<Utc>,
) -> StoreResult<Attachment>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    AttachmentRow: for<'r> FromRow<'r, DB::Row>,
{
    let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
    let row: Option<AttachmentRow> = change.build_query_as().fetch_optional(&mut *tx).await?;
    let attachment = Attachment::try_from(row.ok_or_else(|| not_found(id))?)?;
    let (actor, actor_role) = by.unwrap_or((&attachment.uploader, &attachment.uploader_role));
    insert_event(&mut tx, &attachment, kind, actor, actor_role, at).await?;
    tx.commit().await?;
    Ok(attachment)
}

fn not_found(id: AttachmentId) -> StoreError {
    StoreError::NotFound(format!("attachment {id}"))
}

#[async_trait]
impl<DB> AttachmentStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    AttachmentRow: for<'r> FromRow<'r, DB::Row>,
    AttachmentEventRow: for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn begin_attachment(&self, a: &Attachment) -> StoreResult<()> {
        let mut qb = insert_one::<DB>(
            "attachments",
            COLUMNS,
            [
                text(a.id.to_string()),
                text(a.ticket.to_string()),
                text(AttachmentState::Uploading.code()),
                text(a.file_name.as_str()),
                text(a.content_type.as_str()),
                int(a.size_bytes),
                text(a.sha256.as_str()),
                flag(a.shared_with_units),
                opt_text(a.upload_id.as_deref()),
                text(a.uploader.as_str()),
                text(a.uploader_role.as_str()),
                int(micros(a.create_time)),
            ],
        );
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        qb.build().execute(&mut *conn).await.map_err(|e| {
            match StoreError::from(e) {
                // The one reference: the ticket.
                StoreError::NotFound(_) => StoreError::NotFound(a.ticket.name()),
                other => other,
            }
        })?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn record_upload_id(&self, id: AttachmentId, upload_id: &str) -> StoreResult<()> {
        let mut qb = QueryBuilder::<DB>::new("UPDATE attachments SET upload_id = ");
        qb.push_bind(text(upload_id))
            .push(" WHERE id = ")
            .push_bind(text(id.to_string()))
            .push(" AND state = ")
            .push_bind(text(AttachmentState::Uploading.code()))
            .push(" RETURNING id");
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let done: Option<(String,)> = qb.build_query_as().fetch_optional(&mut *conn).await?;
        done.map(|_| ()).ok_or_else(|| not_found(id))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn complete_attachment(
        &self,
        id: AttachmentId,
        now: DateTime<Utc>,
    ) -> StoreResult<Attachment> {
        let mut qb = QueryBuilder::<DB>::new("UPDATE attachments SET state = ");
        qb.push_bind(text(AttachmentState::Complete.code()))
            .push(", upload_id = NULL WHERE id = ")
            .push_bind(text(id.to_string()))
            .push(" AND state = ")
            .push_bind(text(AttachmentState::Uploading.code()))
            .push(format_args!(" RETURNING {COLUMNS}"));
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        change_audited(&mut conn, qb, id, AttachmentEventKind::Uploaded, None, now).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn get_attachment(&self, id: AttachmentId) -> StoreResult<Attachment> {
        let mut qb =
            QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM attachments WHERE id = "));
        qb.push_bind(text(id.to_string()))
            .push(" AND state = ")
            .push_bind(text(AttachmentState::Complete.code()));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let row: Option<AttachmentRow> = qb.build_query_as().fetch_optional(&mut *conn).await?;
        Attachment::try_from(row.ok_or_else(|| not_found(id))?)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_attachments(
        &self,
        ticket: TicketId,
        after: Option<AttachmentId>,
        limit: u32,
    ) -> StoreResult<Vec<Attachment>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {COLUMNS} FROM attachments WHERE ticket_id = "
        ));
        qb.push_bind(text(ticket.to_string()))
            .push(" AND state = ")
            .push_bind(text(AttachmentState::Complete.code()));
        if let Some(after) = after {
            qb.push(" AND id > ").push_bind(text(after.to_string()));
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(int(limit));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<AttachmentRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        attachments(rows)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn delete_attachment(
        &self,
        id: AttachmentId,
        removal: &AttachmentRemoval,
    ) -> StoreResult<Attachment> {
        let mut qb = QueryBuilder::<DB>::new("DELETE FROM attachments WHERE id = ");
        qb.push_bind(text(id.to_string()))
            .push(" AND state = ")
            .push_bind(text(AttachmentState::Complete.code()))
            .push(format_args!(" RETURNING {COLUMNS}"));
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let by = Some((removal.actor.as_str(), removal.actor_role.as_str()));
        change_audited(&mut conn, qb, id, removal.kind, by, removal.time).await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn stale_uploads(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Attachment>> {
        let mut qb =
            QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM attachments WHERE state = "));
        qb.push_bind(text(AttachmentState::Uploading.code()))
            .push(" AND create_time_us < ")
            .push_bind(int(micros(before)))
            .push(" ORDER BY create_time_us LIMIT ")
            .push_bind(int(limit));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<AttachmentRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        attachments(rows)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn discard_upload(&self, id: AttachmentId) -> StoreResult<bool> {
        let mut qb = QueryBuilder::<DB>::new("DELETE FROM attachments WHERE id = ");
        qb.push_bind(text(id.to_string()))
            .push(" AND state = ")
            .push_bind(text(AttachmentState::Uploading.code()))
            .push(" RETURNING id");
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let gone: Option<(String,)> = qb.build_query_as().fetch_optional(&mut *conn).await?;
        Ok(gone.is_some())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn expired_attachments(
        &self,
        closed_before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Attachment>> {
        let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("a.{c}")).collect();
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {} FROM attachments a JOIN tickets t ON t.id = a.ticket_id WHERE {} \
             AND t.update_time_us < ",
            columns.join(", "),
            *TERMINAL
        ));
        qb.push_bind(int(micros(closed_before)))
            .push(" AND a.state = ")
            .push_bind(text(AttachmentState::Complete.code()))
            .push(" ORDER BY a.id LIMIT ")
            .push_bind(int(limit));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<AttachmentRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        attachments(rows)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn attachment_events(&self, ticket: TicketId) -> StoreResult<Vec<AttachmentEvent>> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM attachment_events WHERE ticket_id = "
        ));
        qb.push_bind(text(ticket.to_string())).push(" ORDER BY id");
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<AttachmentEventRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        rows.into_iter().map(AttachmentEvent::try_from).collect()
    }
}
