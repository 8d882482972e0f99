//! The statements of one write, run either one by one inside a
//! transaction or, where the backend can, fused into a single statement.
//!
//! Why fuse: on PostgreSQL every statement is a round trip, and on a small
//! machine each round trip (two context switches, a wake-up of the
//! database process) costs more than the insert it carries. A statement
//! runs atomically in its own implicit transaction, so intake's whole
//! write — ticket, events, idempotency record, counters — becomes one
//! round trip instead of eight (`BEGIN`, six statements, `COMMIT`), with
//! the same all-or-nothing guarantee. Every part but the last becomes a
//! data-modifying `WITH` clause of the last; PostgreSQL runs each such
//! clause exactly once, and checks foreign keys at the end of the
//! statement, so a row may refer to a row another clause inserts.
//!
//! Why parts are closures: a part is written into a [`QueryBuilder`] only
//! when the batch is run, so the fused statement is built by one builder,
//! front to back — `WITH w1 AS (` part `), w2 AS (` part `) ` last part —
//! and `push_bind` numbers every value in the order it appears. Nothing is
//! renumbered, and the batch need not know in advance which part is last.

use sqlx::{Database, QueryBuilder};

/// Writes one statement's SQL and values into a builder.
type Part<'a, DB> = Box<dyn FnOnce(&mut QueryBuilder<DB>) + Send + 'a>;

/// Room for a typical intake batch's fused statement, so its text is not
/// regrown a dozen times (16 tickets of 67 columns are ~6,000 bytes).
const FUSED_CAPACITY: usize = 16 * 1024;

/// The statements of one write, in order.
pub(super) struct WriteBatch<'a, DB: Database> {
    parts: Vec<Part<'a, DB>>,
}

impl<DB: Database> Default for WriteBatch<'_, DB> {
    fn default() -> Self {
        Self { parts: Vec::new() }
    }
}

impl<'a, DB: Database> WriteBatch<'a, DB> {
    /// Adds a statement, written by `part` when the batch runs.
    pub(super) fn push(&mut self, part: impl FnOnce(&mut QueryBuilder<DB>) + Send + 'a) {
        self.parts.push(Box::new(part));
    }

    /// The statements, each in a builder of its own, to run one by one.
    pub(super) fn into_statements(self) -> Vec<QueryBuilder<DB>> {
        self.parts
            .into_iter()
            .map(|part| {
                let mut qb = QueryBuilder::default();
                part(&mut qb);
                qb
            })
            .collect()
    }

    /// The whole batch as one statement: `WITH w1 AS (…), w2 AS (…) last`.
    /// `None` for an empty batch.
    pub(super) fn fused(self) -> Option<QueryBuilder<DB>> {
        let mut parts = self.parts;
        let last = parts.pop()?;
        let mut qb = QueryBuilder::new(String::with_capacity(FUSED_CAPACITY));
        if !parts.is_empty() {
            qb.push("WITH ");
            for (i, part) in parts.into_iter().enumerate() {
                if i > 0 {
                    qb.push(", ");
                }
                qb.push(format_args!("w{} AS (", i + 1));
                part(&mut qb);
                qb.push(")");
            }
            qb.push(" ");
        }
        last(&mut qb);
        Some(qb)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Postgres;

    use super::*;
    use crate::query::{int, text};

    fn sql(qb: &QueryBuilder<Postgres>) -> String {
        qb.sql().as_str().to_owned()
    }

    #[test]
    fn a_batch_fuses_into_with_clauses_ending_in_the_last_statement() {
        let mut batch = WriteBatch::<Postgres>::default();
        batch.push(|qb| {
            qb.push("INSERT INTO a (x, y) VALUES (")
                .push_bind(int(1))
                .push(", ")
                .push_bind(int(2))
                .push(")");
        });
        batch.push(|qb| {
            qb.push("INSERT INTO b (x) ");
            qb.push_values([3, 4], |mut row, x| {
                row.push_bind(int(x));
            });
        });
        batch.push(|qb| {
            qb.push("SELECT f(").push_bind(int(5)).push(")");
        });
        let fused = batch.fused().expect("non-empty");
        assert_eq!(
            sql(&fused),
            "WITH w1 AS (INSERT INTO a (x, y) VALUES ($1, $2)), \
             w2 AS (INSERT INTO b (x) VALUES ($3), ($4)) SELECT f($5)"
        );
    }

    #[test]
    fn unfused_statements_each_number_from_one() {
        let mut batch = WriteBatch::<Postgres>::default();
        batch.push(|qb| {
            qb.push("DELETE FROM a WHERE x = ").push_bind(text("k"));
        });
        batch.push(|qb| {
            qb.push("DELETE FROM b WHERE x = ").push_bind(text("k"));
        });
        let statements: Vec<String> = batch.into_statements().iter().map(sql).collect();
        assert_eq!(
            statements,
            ["DELETE FROM a WHERE x = $1", "DELETE FROM b WHERE x = $1"]
        );
    }

    #[test]
    fn one_statement_is_itself_and_none_is_nothing() {
        let mut batch = WriteBatch::<Postgres>::default();
        batch.push(|qb| {
            qb.push("DELETE FROM a WHERE x = ").push_bind(text("k"));
        });
        assert_eq!(
            sql(&batch.fused().expect("one")),
            "DELETE FROM a WHERE x = $1"
        );
        assert!(WriteBatch::<Postgres>::default().fused().is_none());
    }
}
