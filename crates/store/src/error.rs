//! What a store call can fail with: one variant per gRPC code the API maps
//! it to, and for the internal case the underlying error kept as the
//! source, so a log shows the whole chain (a sqlx error down to the
//! database's message) and not a string flattened at the first `?`.

/// Storage failures, in terms the API can map to one gRPC code each.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A unique key is taken.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// An optimistic-concurrency check failed: someone changed the row first.
    #[error("concurrent change: {0}")]
    Conflict(String),
    /// The database is unreachable or the pool is exhausted.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or corrupt data. `context` says what the store
    /// was doing or found; `source`, where there is one, is the error that
    /// stopped it, kept whole so a log shows its chain (a sqlx error down
    /// to the database's own message) rather than a flattened string.
    #[error("storage failure: {context}")]
    Internal {
        /// What went wrong, in the store's words.
        context: String,
        /// The underlying error, if another library reported it.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// An internal failure the store found itself (corrupt data, a bug).
    pub fn internal(context: impl Into<String>) -> Self {
        Self::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// An internal failure caused by `source`, which stays reachable
    /// through [`std::error::Error::source`].
    pub fn internal_from(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// This error and every source below it, outermost first, joined by
    /// `": "`, for a log line that takes one string. A source whose text
    /// the line already ends with (sqlx repeats its database error) is not
    /// repeated.
    pub fn report(&self) -> String {
        let mut line = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(source) = next {
            let text = source.to_string();
            if !line.ends_with(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            next = source.source();
        }
        line
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound("row".into()),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err)
            }
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => {
                    Self::AlreadyExists(db.constraint().unwrap_or("unique key").to_owned())
                }
                ErrorKind::ForeignKeyViolation => {
                    Self::NotFound(db.constraint().unwrap_or("referenced row").to_owned())
                }
                _ if is_busy(db.as_ref()) => Self::Conflict("database busy".into()),
                _ => Self::internal_from("database error", err),
            },
            _ => Self::internal_from("database call failed", err),
        }
    }
}

/// SQLite reports a lost write race as SQLITE_BUSY (5) or a variant of it.
fn is_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_sqlx_error_stays_the_source_of_an_internal_failure() {
        let err = StoreError::from(sqlx::Error::Protocol("unexpected message 'Z'".into()));
        assert!(matches!(err, StoreError::Internal { .. }), "{err:?}");
        let source = err.source().expect("a source");
        assert!(source.downcast_ref::<sqlx::Error>().is_some());
        assert!(
            err.report().contains("unexpected message 'Z'"),
            "{}",
            err.report()
        );
    }

    #[test]
    fn a_failure_the_store_found_has_no_source_and_reports_its_context() {
        let err = StoreError::internal("stored time is invalid");
        assert!(err.source().is_none());
        assert_eq!(err.report(), "storage failure: stored time is invalid");
    }

    #[test]
    fn the_report_does_not_repeat_a_source_the_line_already_ends_with() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: inner")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner;
        let err = StoreError::internal_from("writing", Outer(Inner));
        assert_eq!(err.report(), "storage failure: writing: outer: inner");
    }
}
