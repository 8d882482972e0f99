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

impl StoreError {
    /// Whether the call that failed may run once more on a fresh
    /// connection without doing anything twice: its connection was gone
    /// before the call could take effect.
    ///
    /// A session the server ended itself (SQLSTATE 57P01–57P03, class 08)
    /// rolled back whatever it had open, so any call may be repeated; that
    /// is what a pooled connection reports after a PostgreSQL restart. A
    /// socket that failed without a word (an I/O error) may have failed
    /// after a commit was sent, so only a call that `writes` nothing is
    /// repeated then.
    pub fn retry_on_fresh_connection(&self, writes: bool) -> bool {
        match self {
            Self::Unavailable(sqlx::Error::Database(db)) => {
                postgres_class(db.as_ref()) == Some(Class::SessionEnded)
            }
            Self::Unavailable(sqlx::Error::Io(_) | sqlx::Error::Tls(_)) => !writes,
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound("row".into()),
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Self::Unavailable(err),
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => {
                    Self::AlreadyExists(db.constraint().unwrap_or("unique key").to_owned())
                }
                ErrorKind::ForeignKeyViolation => {
                    Self::NotFound(db.constraint().unwrap_or("referenced row").to_owned())
                }
                _ => match postgres_class(db.as_ref()).or_else(|| sqlite_class(db.as_ref())) {
                    Some(Class::SessionEnded | Class::Unavailable) => Self::Unavailable(err),
                    Some(Class::LostRace) => Self::Conflict(
                        db.code()
                            .map_or_else(|| "lost a race".to_owned(), |c| format!("SQLSTATE {c}")),
                    ),
                    None => Self::internal_from("database error", err),
                },
            },
            _ => Self::internal_from("database call failed", err),
        }
    }
}

/// What a database error says about the database rather than the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The server ended the session (or never began one): the connection
    /// is dead and nothing it had open was committed.
    SessionEnded,
    /// The database cannot serve now (busy, locked, out of connections);
    /// the same call can succeed later.
    Unavailable,
    /// The transaction lost a race with another (serialization failure,
    /// deadlock) and was rolled back; retrying it can succeed at once.
    LostRace,
}

/// The class of a PostgreSQL error, by SQLSTATE; `None` for other
/// backends' errors and for SQLSTATEs that say the call itself was wrong.
fn postgres_class(db: &dyn sqlx::error::DatabaseError) -> Option<Class> {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    sqlstate_class(&db.code()?)
}

/// Classifies a PostgreSQL SQLSTATE (Appendix A of its manual).
fn sqlstate_class(code: &str) -> Option<Class> {
    match code {
        // connection_exception and its subclasses; admin_shutdown,
        // crash_shutdown, cannot_connect_now (a restart in progress).
        c if c.starts_with("08") => Some(Class::SessionEnded),
        "57P01" | "57P02" | "57P03" => Some(Class::SessionEnded),
        // too_many_connections; database_dropped is not retryable.
        "53300" => Some(Class::Unavailable),
        // serialization_failure, deadlock_detected.
        "40001" | "40P01" => Some(Class::LostRace),
        _ => None,
    }
}

/// The class of a SQLite error, by its (extended) result code; `None` for
/// other backends' errors.
fn sqlite_class(db: &dyn sqlx::error::DatabaseError) -> Option<Class> {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    sqlite_code_class(db.code()?.parse().ok()?)
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes: the
/// lock was not free within the busy timeout, so another writer (or
/// process) holds the database; the call can succeed once it lets go.
fn sqlite_code_class(code: i32) -> Option<Class> {
    matches!(code & 0xff, 5 | 6).then_some(Class::Unavailable)
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
    fn sqlstates_of_a_lost_session_are_retried_on_a_fresh_connection() {
        for code in [
            "08000", "08003", "08006", "08001", "08004", "08P01", "57P01", "57P02", "57P03",
        ] {
            assert_eq!(sqlstate_class(code), Some(Class::SessionEnded), "{code}");
        }
    }

    #[test]
    fn sqlstates_of_a_busy_database_or_a_lost_race_are_not_internal() {
        assert_eq!(sqlstate_class("53300"), Some(Class::Unavailable));
        assert_eq!(sqlstate_class("40001"), Some(Class::LostRace));
        assert_eq!(sqlstate_class("40P01"), Some(Class::LostRace));
        // The call's own fault, or a bug: internal.
        for code in ["42P01", "22P02", "23502", "57014", "XX000", "3D000", ""] {
            assert_eq!(sqlstate_class(code), None, "{code}");
        }
    }

    #[test]
    fn sqlite_busy_and_locked_codes_mean_unavailable() {
        // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_TIMEOUT,
        // SQLITE_LOCKED, SQLITE_LOCKED_SHAREDCACHE.
        for code in [5, 517, 773, 6, 262] {
            assert_eq!(sqlite_code_class(code), Some(Class::Unavailable), "{code}");
        }
        // SQLITE_ERROR, SQLITE_CONSTRAINT, SQLITE_CORRUPT, SQLITE_IOERR.
        for code in [1, 19, 11, 10] {
            assert_eq!(sqlite_code_class(code), None, "{code}");
        }
    }

    #[test]
    fn only_calls_that_write_nothing_are_retried_after_a_silent_socket_failure() {
        let io = || {
            StoreError::from(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )))
        };
        assert!(matches!(io(), StoreError::Unavailable(_)));
        assert!(io().retry_on_fresh_connection(false));
        assert!(!io().retry_on_fresh_connection(true));
        let timed_out = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(timed_out, StoreError::Unavailable(_)));
        assert!(
            !timed_out.retry_on_fresh_connection(false),
            "it waited already"
        );
        assert!(!StoreError::Conflict("x".into()).retry_on_fresh_connection(false));
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
