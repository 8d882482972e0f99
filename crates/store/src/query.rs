//! The pieces every statement is built from: bind values, column tables and
//! WHERE conditions, all written through sqlx's [`QueryBuilder`].
//!
//! Why a builder: it writes each placeholder where its value is bound
//! (`$n` on PostgreSQL, `?` on SQLite), so SQL text and values cannot fall
//! out of step — no counting of placeholders, no renumbering when
//! statements are fused (see [`super::batch`]).
//!
//! Why a value type: a table's columns are declared once, as a list of
//! `(name, the row's value)` pairs ([`Column`]), and the INSERT, the UPDATE,
//! the SELECT list and the COPY loader all walk that one list, so a column
//! can never meet another column's value by position. A list of columns of
//! mixed types needs one type for their values: [`Value`], which encodes
//! itself for either backend so [`QueryBuilder::push_bind`] takes it as is.

use std::borrow::Cow;

use sqlx::{
    Database, Encode, QueryBuilder, Type, encode::IsNull, error::BoxDynError, query_builder,
};

/// A bind value of one of the column types the schema uses. Text borrows
/// from the row where it can, so writing a ticket copies its strings once,
/// into the statement's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value<'a> {
    /// `TEXT`.
    Text(Option<Cow<'a, str>>),
    /// `BIGINT` (every integer column is bound as one).
    Int(Option<i64>),
    /// `BOOLEAN`.
    Bool(Option<bool>),
    /// `BLOB` (SQLite) / `BYTEA` (PostgreSQL).
    Bytes(Option<Cow<'a, [u8]>>),
}

/// A text value, borrowed or owned.
pub(super) fn text<'a>(s: impl Into<Cow<'a, str>>) -> Value<'a> {
    Value::Text(Some(s.into()))
}

/// A nullable text value.
pub(super) fn opt_text<'a, S: Into<Cow<'a, str>>>(s: Option<S>) -> Value<'a> {
    Value::Text(s.map(Into::into))
}

/// An integer value.
pub(super) fn int(i: impl Into<i64>) -> Value<'static> {
    Value::Int(Some(i.into()))
}

/// A nullable integer value.
pub(super) fn opt_int(i: Option<i64>) -> Value<'static> {
    Value::Int(i)
}

/// A boolean value.
pub(super) fn flag(b: bool) -> Value<'static> {
    Value::Bool(Some(b))
}

/// A nullable boolean value.
pub(super) fn opt_flag(b: Option<bool>) -> Value<'static> {
    Value::Bool(b)
}

/// A nullable byte string.
pub(super) fn opt_bytes(b: Option<&[u8]>) -> Value<'_> {
    Value::Bytes(b.map(Cow::Borrowed))
}

/// Encodes as the `Option` of its own type, so a NULL is still sent with
/// its column's type (PostgreSQL refuses a text NULL for a `BIGINT`).
impl<'q, DB: Database> Encode<'q, DB> for Value<'_>
where
    for<'s> Option<&'s str>: Encode<'s, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<bool>: Encode<'q, DB> + Type<DB>,
    for<'s> Option<&'s [u8]>: Encode<'s, DB> + Type<DB>,
{
    fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        match self {
            Value::Text(s) => s.as_deref().encode_by_ref(buf),
            Value::Int(i) => i.encode_by_ref(buf),
            Value::Bool(b) => b.encode_by_ref(buf),
            Value::Bytes(b) => b.as_deref().encode_by_ref(buf),
        }
    }

    fn produces(&self) -> Option<DB::TypeInfo> {
        Some(match self {
            Value::Text(_) => <Option<&str> as Type<DB>>::type_info(),
            Value::Int(_) => <Option<i64> as Type<DB>>::type_info(),
            Value::Bool(_) => <Option<bool> as Type<DB>>::type_info(),
            Value::Bytes(_) => <Option<&[u8]> as Type<DB>>::type_info(),
        })
    }
}

/// Required by `push_bind`; the type a value is bound as is the one
/// [`Encode::produces`] names, so this static one is never used for it.
impl<DB: Database> Type<DB> for Value<'_>
where
    for<'s> Option<&'s str>: Type<DB>,
    Option<i64>: Type<DB>,
    Option<bool>: Type<DB>,
    for<'s> Option<&'s [u8]>: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <Option<&str> as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <Option<&str> as Type<DB>>::compatible(ty)
            || <Option<i64> as Type<DB>>::compatible(ty)
            || <Option<bool> as Type<DB>>::compatible(ty)
            || <Option<&[u8]> as Type<DB>>::compatible(ty)
    }
}

/// One column of a table: its name and how a row of type `R` fills it.
pub(super) type Column<R> = (&'static str, for<'r> fn(&'r R) -> Value<'r>);

/// The columns' names, comma-separated, for a SELECT list or a COPY.
pub(super) fn column_names<R>(columns: &[Column<R>]) -> String {
    columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// When a statement of a write puts its rows in.
///
/// Why a condition: a transition's fused write (see [`super::batch`]) is
/// one statement whose first clause, `w1`, is the version-checked UPDATE of
/// the ticket. PostgreSQL runs every data-modifying `WITH` clause whether
/// or not anything reads it, so the rows that go with the change (events,
/// counters, the idempotency record) are inserted only if `w1` returned
/// its row: a lost race then writes nothing at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rows {
    /// Unconditionally (a statement of its own, or a transaction's).
    Always,
    /// Only if the fused statement's clause `w1` returned a row.
    IfFirstReturned,
}

impl Rows {
    /// The condition to AND onto a DELETE's WHERE clause, if any.
    pub(super) fn and_condition(self) -> &'static str {
        match self {
            Rows::Always => "",
            Rows::IfFirstReturned => " AND EXISTS (SELECT 1 FROM w1)",
        }
    }
}

/// `VALUES (…), (…)`, or under [`Rows::IfFirstReturned`] the same rows
/// selected only if `w1` returned one: the source of an `INSERT … (columns)`.
/// Bind values keep their types in the sub-select, so the insert coerces
/// them exactly as it does plain VALUES.
pub(super) fn push_rows<DB, I, F>(qb: &mut QueryBuilder<DB>, when: Rows, rows: I, push_row: F)
where
    DB: Database,
    I: IntoIterator,
    F: FnMut(query_builder::Separated<'_, DB, &'static str>, I::Item),
{
    match when {
        Rows::Always => {
            qb.push_values(rows, push_row);
        }
        Rows::IfFirstReturned => {
            qb.push("SELECT * FROM (");
            qb.push_values(rows, push_row);
            qb.push(") AS v WHERE EXISTS (SELECT 1 FROM w1)");
        }
    }
}

/// `INSERT INTO {table} (columns) VALUES (…), (…)`: every row in one
/// statement, one round trip per table.
pub(super) fn push_insert<'r, DB, R: 'r>(
    qb: &mut QueryBuilder<DB>,
    table: &str,
    columns: &[Column<R>],
    rows: impl IntoIterator<Item = &'r R>,
    when: Rows,
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push(format_args!("INSERT INTO {table} ("));
    let mut names = qb.separated(", ");
    for (name, _) in columns {
        names.push(name);
    }
    qb.push(") ");
    push_rows(qb, when, rows, |mut row, r| {
        for (_, value) in columns {
            row.push_bind(value(r));
        }
    });
}

/// `INSERT INTO {table} ({columns}) VALUES (…)` of one row, its values
/// bound in order: the single-row inserts of the tables written in place
/// (attachments, knowledge articles).
pub(super) fn insert_one<'v, DB>(
    table: &str,
    columns: &str,
    values: impl IntoIterator<Item = Value<'v>>,
) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(format!("INSERT INTO {table} ({columns}) VALUES ("));
    let mut row = qb.separated(", ");
    for value in values {
        row.push_bind(value);
    }
    qb.push(")");
    qb
}

/// A row of values of no declared table (the few two- and five-column
/// inserts whose rows are built in place).
pub(super) fn push_row<'v, DB>(
    mut row: query_builder::Separated<'_, DB, &'static str>,
    values: impl IntoIterator<Item = Value<'v>>,
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    for value in values {
        row.push_bind(value);
    }
}

/// The conditions of a WHERE clause, joined with AND. Each condition is
/// written into the builder as it is added, values bound in place:
///
/// ```text
/// let mut w = Conditions::new(&mut qb);
/// w.and().push("kind = ").push_bind(text("street"));
/// ```
pub(super) struct Conditions<'b, DB: Database> {
    qb: &'b mut QueryBuilder<DB>,
    any: bool,
}

impl<'b, DB: Database> Conditions<'b, DB> {
    /// Conditions appended to `qb` (which must end where `WHERE` may go).
    pub(super) fn new(qb: &'b mut QueryBuilder<DB>) -> Self {
        Self { qb, any: false }
    }

    /// Starts the next condition (` WHERE ` first, then ` AND `) and
    /// returns the builder to write it with.
    pub(super) fn and(&mut self) -> &mut QueryBuilder<DB> {
        self.qb.push(if self.any { " AND " } else { " WHERE " });
        self.any = true;
        self.qb
    }

    /// The builder, to write what follows the conditions.
    pub(super) fn finish(self) -> &'b mut QueryBuilder<DB> {
        self.qb
    }
}

/// `{column} IN (…)` with one bound value per item (`items` non-empty).
pub(super) fn push_in<'v, DB>(
    qb: &mut QueryBuilder<DB>,
    column: &str,
    items: impl IntoIterator<Item = Value<'v>>,
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push(format_args!("{column} IN ("));
    let mut list = qb.separated(", ");
    for item in items {
        list.push_bind(item);
    }
    qb.push(")");
}

/// `{column} >= lower AND {column} < upper` for a digits prefix (see
/// [`super::prefix_upper_bound`]): a range scan on a plain b-tree.
pub(super) fn push_prefix<DB>(qb: &mut QueryBuilder<DB>, column: &str, prefix: &str)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push(format_args!("{column} >= "))
        .push_bind(text(prefix))
        .push(format_args!(" AND {column} < "))
        .push_bind(text(super::prefix_upper_bound(prefix)));
}

#[cfg(test)]
mod tests {
    use sqlx::{Postgres, Sqlite};

    use super::*;

    struct Row {
        id: String,
        n: Option<i64>,
    }

    const COLUMNS: &[Column<Row>] = &[("id", |r| text(&r.id)), ("n", |r| opt_int(r.n))];

    fn rows() -> Vec<Row> {
        vec![
            Row {
                id: "a".into(),
                n: Some(1),
            },
            Row {
                id: "b".into(),
                n: None,
            },
        ]
    }

    #[test]
    fn an_insert_names_each_column_once_and_numbers_every_value() {
        let rows = rows();
        let mut qb = QueryBuilder::<Postgres>::default();
        push_insert(&mut qb, "t", COLUMNS, &rows, Rows::Always);
        assert_eq!(
            qb.sql().as_str(),
            "INSERT INTO t (id, n) VALUES ($1, $2), ($3, $4)"
        );
        let mut qb = QueryBuilder::<Sqlite>::default();
        push_insert(&mut qb, "t", COLUMNS, &rows, Rows::Always);
        assert_eq!(
            qb.sql().as_str(),
            "INSERT INTO t (id, n) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(column_names(COLUMNS), "id, n");
    }

    #[test]
    fn a_conditional_insert_selects_its_rows_only_if_the_first_clause_returned_one() {
        let rows = rows();
        let mut qb = QueryBuilder::<Postgres>::default();
        push_insert(&mut qb, "t", COLUMNS, &rows, Rows::IfFirstReturned);
        assert_eq!(
            qb.sql().as_str(),
            "INSERT INTO t (id, n) SELECT * FROM (VALUES ($1, $2), ($3, $4)) AS v \
             WHERE EXISTS (SELECT 1 FROM w1)"
        );
        assert_eq!(Rows::Always.and_condition(), "");
    }

    #[test]
    fn conditions_start_with_where_and_join_with_and() {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT x FROM t");
        let mut w = Conditions::new(&mut qb);
        w.and().push("a = ").push_bind(int(1));
        push_in(w.and(), "b", [text("p"), text("q")]);
        push_prefix(w.and(), "c", "3301");
        w.finish().push(" LIMIT ").push_bind(int(5));
        assert_eq!(
            qb.sql().as_str(),
            "SELECT x FROM t WHERE a = $1 AND b IN ($2, $3) AND c >= $4 AND c < $5 LIMIT $6"
        );
        let mut qb = QueryBuilder::<Postgres>::new("SELECT x FROM t");
        Conditions::new(&mut qb).finish().push(" LIMIT 1");
        assert_eq!(qb.sql().as_str(), "SELECT x FROM t LIMIT 1");
    }
}
