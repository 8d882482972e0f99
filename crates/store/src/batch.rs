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

use super::sql::{Value, push_placeholder};

/// One statement and the values of its `$n` placeholders, in order.
#[derive(Debug, Clone)]
pub(super) struct Statement {
    /// The SQL, with placeholders `$1` … `$len`.
    pub(super) sql: String,
    /// The values, `$1` first.
    pub(super) values: Vec<Value>,
}

/// The statements of one write, in order.
#[derive(Debug, Default)]
pub(super) struct WriteBatch {
    statements: Vec<Statement>,
}

impl WriteBatch {
    /// Adds a statement (placeholders numbered from `$1`).
    pub(super) fn push(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// Adds statements in order.
    pub(super) fn extend(&mut self, statements: impl IntoIterator<Item = Statement>) {
        self.statements.extend(statements);
    }

    /// The statements, to run one by one.
    pub(super) fn into_statements(self) -> Vec<Statement> {
        self.statements
    }

    /// The whole batch as one statement: `WITH w1 AS (…), w2 AS (…) last`,
    /// each part's placeholders shifted past the ones before it. `None`
    /// for an empty batch.
    pub(super) fn fused(self) -> Option<Statement> {
        let mut statements = self.statements;
        let last = statements.pop()?;
        if statements.is_empty() {
            return Some(last);
        }
        let mut sql = String::from("WITH ");
        let mut values = Vec::new();
        for (i, part) in statements.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("w{} AS (", i + 1));
            sql.push_str(&shift_placeholders(&part.sql, values.len()));
            sql.push(')');
            values.extend(part.values);
        }
        sql.push(' ');
        sql.push_str(&shift_placeholders(&last.sql, values.len()));
        values.extend(last.values);
        Some(Statement { sql, values })
    }
}

/// `sql` with every placeholder `$n` renumbered `$n+by`. The statements
/// are the store's own, which hold no `$` inside literals or names.
fn shift_placeholders(sql: &str, by: usize) -> String {
    if by == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut number = 0usize;
        let mut digits = 0;
        while let Some(&(_, d)) = chars.peek() {
            let Some(v) = d.to_digit(10) else { break };
            number = number * 10 + v as usize;
            digits += 1;
            chars.next();
        }
        if digits > 0 {
            out.pop();
            push_placeholder(&mut out, number + by);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::{int, text};

    fn statement(sql: &str, values: Vec<Value>) -> Statement {
        Statement {
            sql: sql.into(),
            values,
        }
    }

    fn ints(values: &[Value]) -> Vec<i64> {
        values
            .iter()
            .map(|v| match v {
                Value::Int(Some(i)) => *i,
                other => panic!("not an int: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn placeholders_shift_past_the_earlier_parts() {
        assert_eq!(
            shift_placeholders("VALUES ($1, $2), ($10, $11)", 9),
            "VALUES ($10, $11), ($19, $20)"
        );
        assert_eq!(shift_placeholders("a = $1", 0), "a = $1");
        assert_eq!(shift_placeholders("price $ and $x", 3), "price $ and $x");
    }

    #[test]
    fn a_batch_fuses_into_with_clauses_ending_in_the_last_statement() {
        let mut batch = WriteBatch::default();
        batch.push(statement(
            "INSERT INTO a (x, y) VALUES ($1, $2)",
            vec![int(1), int(2)],
        ));
        batch.extend([
            statement("INSERT INTO b (x) VALUES ($1), ($2)", vec![int(3), int(4)]),
            statement("SELECT f($1)", vec![int(5)]),
        ]);
        let fused = batch.fused().expect("non-empty");
        assert_eq!(
            fused.sql,
            "WITH w1 AS (INSERT INTO a (x, y) VALUES ($1, $2)), \
             w2 AS (INSERT INTO b (x) VALUES ($3), ($4)) SELECT f($5)"
        );
        assert_eq!(ints(&fused.values), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn one_statement_is_itself_and_none_is_nothing() {
        let mut batch = WriteBatch::default();
        batch.push(statement("DELETE FROM a WHERE x = $1", vec![text("k")]));
        assert_eq!(
            batch.fused().expect("one").sql,
            "DELETE FROM a WHERE x = $1"
        );
        assert!(WriteBatch::default().fused().is_none());
    }
}
