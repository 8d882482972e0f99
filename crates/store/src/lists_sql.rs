//! Ticket lists in SQL: a [`TicketQuery`] becomes one SELECT whose
//! conditions are written with their values bound in place, so a filter
//! that is not set adds neither text nor a value.
//!
//! Every list is read in its order straight off an index, also when
//! PostgreSQL plans the prepared statement once for any value (a generic
//! plan, which it may choose after five executions): a generic plan
//! cannot tell a district from a city when the region is a range, so it
//! costs the worst and sorts. Hence:
//! - a region prefix that is exactly a district or a street is an equality
//!   on the ticket's `district_code` or `street_code`, each with its
//!   `(…, create_time_us DESC, id DESC)` index; a longer prefix narrows by
//!   its district or street first, a shorter one (a city) stays a range and
//!   walks the time index;
//! - what one index cannot give in order is split into parts that each
//!   can, merged by a `UNION ALL` under the page's LIMIT (PostgreSQL's Merge
//!   Append reads each part only as far as the page needs): a reader's scope
//!   "in my region, or led by my unit, or co-handled by my unit" is up to
//!   three parts, each leaving out the rows of the parts before it, and
//!   several states are one part per state;
//! - but the open states ([`OPEN_STATES`], all of them) of a district or a
//!   street are one part, `state IN (…)` written out: the partial indexes
//!   `tickets_open_district` and `tickets_open_street` hold just those
//!   tickets in list order (duplicate search reads them on every call);
//! - the co-handled part walks `ticket_co_units` by unit and creation time
//!   (copied beside each pair) and fetches the tickets by key.
//!
//! The PostgreSQL plan test (`plans.rs`) explains every list kind under a
//! forced generic plan and fails on a sort or a table scan.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::{
    StoreResult, TicketQuery,
    pii::PiiCodec,
    query::{Conditions, Value, int, push_prefix, text},
    rows::{TicketRow, micros},
    ticket_columns::TICKET_COLUMN_LIST,
};
use hotline_domain::{
    access::ListScope,
    text_enum::TextEnum,
    ticket::{Ticket, TicketState},
};

/// Tickets matching a query, newest (or oldest) first.
pub(super) async fn list_tickets<DB>(
    pool: &Pool<DB>,
    pii: &PiiCodec,
    q: &TicketQuery,
) -> StoreResult<Vec<Ticket>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    TicketRow: for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<TicketRow> = fetch_list(pool, pii, q, list_query).await?;
    rows.into_iter().map(|r| r.open(pii)).collect()
}

/// The rows of `q`'s list as `R`, read by the statement `statement`
/// writes for it ([`list_query`], or one selecting fewer columns through
/// [`list_query_of`]), in the list's order. A caller phone is searched by
/// its blind index, the only searchable form of it.
pub(super) async fn fetch_list<DB, R>(
    pool: &Pool<DB>,
    pii: &PiiCodec,
    q: &TicketQuery,
    statement: fn(&TicketQuery, Option<&str>) -> QueryBuilder<DB>,
) -> StoreResult<Vec<R>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    let phone_index = q
        .caller_phone
        .as_deref()
        .map(|p| pii.phone_index(p))
        .transpose()?;
    let mut qb = statement(q, phone_index.as_deref());
    Ok(qb.build_query_as().fetch_all(pool).await?)
}

/// The statement [`list_tickets`] sends for `q` (`phone_index` is the
/// blind index of `q.caller_phone`, the only searchable form of the
/// phone); the plan tests explain this very text.
pub(crate) fn list_query<DB>(q: &TicketQuery, phone_index: Option<&str>) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    list_query_of(q, phone_index, &TICKET_COLUMN_LIST)
}

/// [`list_query`] selecting `columns` (a SELECT list of `tickets`
/// columns, each named as the row type reads it) instead of the whole
/// ticket: the same conditions, order and indexes.
pub(crate) fn list_query_of<DB>(
    q: &TicketQuery,
    phone_index: Option<&str>,
    columns: &str,
) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let branches = branches(q);
    let mut qb = QueryBuilder::new("");
    if let [only] = branches.as_slice()
        && !matches!(only.part, Some(ScopePart::CoUnit(_)))
    {
        push_branch(&mut qb, q, phone_index, only, columns);
        return qb;
    }
    for (i, branch) in branches.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push("SELECT * FROM (");
        push_branch(&mut qb, q, phone_index, branch, columns);
        qb.push(format_args!(") AS b{i}"));
    }
    push_order_and_limit(&mut qb, q, ("create_time_us", "id"));
    qb
}

/// One part of a limited reader's scope, each read from an index of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopePart<'a> {
    /// Tickets in a region prefix (a supervisor's area).
    Region(&'a str),
    /// Tickets the unit leads.
    Lead(&'a str),
    /// Tickets the unit co-handles.
    CoUnit(&'a str),
}

/// The states a ticket still being handled is in: those a merge can take
/// as either side, which duplicate search lists for the probe's place.
pub const OPEN_STATES: [TicketState; 4] = [
    TicketState::PendingDispatch,
    TicketState::Dispatched,
    TicketState::InProgress,
    TicketState::ReturnRequested,
];

/// [`OPEN_STATES`] as the condition of the partial indexes of migration
/// 031, letter for letter: PostgreSQL uses a partial index under a generic
/// plan only if the statement's own text proves its condition (a bound
/// list proves nothing), and SQLite only if the statement contains it.
const OPEN_STATES_SQL: &str =
    "state IN ('pending_dispatch', 'dispatched', 'in_progress', 'return_requested')";

/// The states one branch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum States {
    /// Any state.
    Any,
    /// This one.
    One(TicketState),
    /// All of [`OPEN_STATES`], as [`OPEN_STATES_SQL`].
    Open,
}

/// One ordered index scan of a list: a scope part (none when the reader
/// sees everything, or nothing at all), the earlier parts whose rows it
/// leaves out (so no ticket is listed twice), and the states it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Branch<'a> {
    part: Option<ScopePart<'a>>,
    earlier: Vec<ScopePart<'a>>,
    states: States,
    /// The reader's scope holds nothing: the branch matches no row.
    nothing: bool,
}

/// The parts of `q`'s list: its scope parts times its states (each state
/// once; the open states of a place as one), in that order.
fn branches(q: &TicketQuery) -> Vec<Branch<'_>> {
    let (parts, nothing): (Vec<Option<ScopePart<'_>>>, bool) = match &q.scope {
        ListScope::All => (vec![None], false),
        ListScope::Limited {
            region_prefix,
            unit,
        } => {
            let mut parts = Vec::new();
            if let Some(r) = region_prefix {
                parts.push(Some(ScopePart::Region(r)));
            }
            if let Some(u) = unit {
                parts.push(Some(ScopePart::Lead(u.as_str())));
                parts.push(Some(ScopePart::CoUnit(u.as_str())));
            }
            let nothing = parts.is_empty();
            if nothing {
                parts.push(None);
            }
            (parts, nothing)
        }
    };
    let mut states: Vec<States> = Vec::new();
    for s in &q.states {
        if !states.contains(&States::One(*s)) {
            states.push(States::One(*s));
        }
    }
    if states.is_empty() {
        states.push(States::Any);
    }
    if open_of_a_place(q, &states) {
        states = vec![States::Open];
    }
    let mut out = Vec::with_capacity(parts.len() * states.len());
    for (i, part) in parts.iter().enumerate() {
        let earlier: Vec<ScopePart<'_>> = parts[..i].iter().flatten().copied().collect();
        for state in &states {
            out.push(Branch {
                part: *part,
                earlier: earlier.clone(),
                states: *state,
                nothing,
            });
        }
    }
    out
}

/// Whether `states` (each once) are all the open states and `q` names a
/// district or a street (a prefix of at least a district's digits is an
/// equality on one of them, [`push_region`]): then one walk of the place's
/// open index gives the page in order. Elsewhere (a city, a unit's inbox)
/// the states stay a part each, read off the per-state indexes.
fn open_of_a_place(q: &TicketQuery, states: &[States]) -> bool {
    states.len() == OPEN_STATES.len()
        && OPEN_STATES
            .iter()
            .all(|s| states.contains(&States::One(*s)))
        && q.region_prefix
            .as_ref()
            .is_some_and(|r| r.len() >= DISTRICT)
}

/// Digits of a district's code.
const DISTRICT: usize = 6;
/// Digits of a street's code.
const STREET: usize = 9;
/// Digits of a community's code.
const COMMUNITY: usize = 12;

/// One branch as a complete SELECT with its own ORDER BY and LIMIT.
fn push_branch<DB>(
    qb: &mut QueryBuilder<DB>,
    q: &TicketQuery,
    phone_index: Option<&str>,
    branch: &Branch<'_>,
    columns: &str,
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    // The co-handled part walks the pair table, whose time and id columns
    // carry the index order, and fetches each ticket by key. (Also joining
    // on the creation time would tell the planner the tickets come out in
    // that order, but it takes the two equalities as independent, expects
    // one row, and hash-joins the unit's whole co-handled set instead.)
    let time_cols = match branch.part {
        Some(ScopePart::CoUnit(_)) => {
            qb.push(format_args!(
                "SELECT {columns} FROM ticket_co_units c JOIN tickets ON tickets.id = c.ticket_id"
            ));
            ("c.ticket_create_time_us", "c.ticket_id")
        }
        _ => {
            qb.push(format_args!("SELECT {columns} FROM tickets"));
            ("create_time_us", "id")
        }
    };
    let mut w = Conditions::new(qb);
    if branch.nothing {
        w.and().push("1 = 0");
    }
    match branch.part {
        Some(ScopePart::Region(r)) => push_region(w.and(), r),
        Some(ScopePart::Lead(u)) => {
            w.and().push("lead_unit_id = ").push_bind(text(u));
        }
        Some(ScopePart::CoUnit(u)) => {
            w.and().push("c.unit_id = ").push_bind(text(u));
        }
        None => {}
    }
    for part in &branch.earlier {
        match part {
            ScopePart::Region(r) => {
                let qb = w.and();
                qb.push("NOT (");
                push_prefix(qb, "region_code", r);
                qb.push(")");
            }
            ScopePart::Lead(u) => {
                w.and()
                    .push("(lead_unit_id IS NULL OR lead_unit_id <> ")
                    .push_bind(text(*u))
                    .push(")");
            }
            ScopePart::CoUnit(_) => unreachable!("the co-handled part comes last"),
        }
    }
    match branch.states {
        States::Any => {}
        States::One(s) => {
            w.and().push("state = ").push_bind(text(s.code()));
        }
        States::Open => {
            w.and().push(OPEN_STATES_SQL);
        }
    }
    push_filters(&mut w, q, phone_index, time_cols);
    push_order_and_limit(w.finish(), q, time_cols);
}

/// ` ORDER BY time, id LIMIT n` in the query's direction. The page size is
/// written into the text, not bound: a generic plan takes a bound LIMIT
/// for a tenth of the rows and chose a hash join of a unit's whole
/// co-handled set over an ordered walk of twenty; page sizes are few, so
/// they add few statements to each connection's cache.
fn push_order_and_limit<DB: Database>(
    qb: &mut QueryBuilder<DB>,
    q: &TicketQuery,
    (time, id): (&str, &str),
) {
    let order = if q.oldest_first { "ASC" } else { "DESC" };
    qb.push(format_args!(
        " ORDER BY {time} {order}, {id} {order} LIMIT {}",
        q.limit
    ));
}

/// Tickets within a region prefix, by the finest index the prefix names:
/// exactly a district or a street is an equality on its column (a 12-digit
/// community adds its own code); a prefix between those narrows by its
/// district or street and keeps the range; a shorter one (a province or a
/// city, most of the table) is the range alone.
fn push_region<DB>(qb: &mut QueryBuilder<DB>, prefix: &str)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let n = prefix.len();
    if n >= STREET {
        qb.push("street_code = ")
            .push_bind(text(prefix[..STREET].to_owned()));
    } else if n >= DISTRICT {
        qb.push("district_code = ")
            .push_bind(text(prefix[..DISTRICT].to_owned()));
    }
    if n == DISTRICT || n == STREET {
        return;
    }
    if n > DISTRICT {
        qb.push(" AND ");
    }
    if n == COMMUNITY {
        qb.push("region_code = ").push_bind(text(prefix.to_owned()));
    } else {
        push_prefix(qb, "region_code", prefix);
    }
}

/// The query's filters other than scope and state, in the order they are
/// listed; `time` and `id` name the columns that carry the list order.
fn push_filters<DB>(
    w: &mut Conditions<'_, DB>,
    q: &TicketQuery,
    phone_index: Option<&str>,
    (time, id): (&str, &str),
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    if let Some(u) = &q.lead_unit {
        w.and().push("lead_unit_id = ").push_bind(text(u.as_str()));
    }
    if let Some(t) = q.request_type {
        w.and().push("request_type = ").push_bind(text(t.code()));
    }
    if let Some(r) = &q.region_prefix {
        push_region(w.and(), r);
    }
    if let Some(from) = q.created_from {
        w.and()
            .push(format_args!("{time} >= "))
            .push_bind(int(micros(from)));
    }
    if let Some(to) = q.created_to {
        w.and()
            .push(format_args!("{time} < "))
            .push_bind(int(micros(to)));
    }
    if let Some(t) = q.overdue_at {
        // The states written out (not bound) so that they match the partial
        // indexes of tickets in handling (`tickets_handling_*`), which hold
        // just these tickets in list order. The deadline is compared as
        // `+ 0` so that no plan reads it off `tickets_reply_due` (the
        // sweeper's index): a generic plan, which cannot tell how many are
        // overdue, intersected a unit's tickets with it and sorted them.
        w.and()
            .push(
                "state IN ('dispatched', 'in_progress', 'return_requested') \
                 AND reply_deadline_us + 0 < ",
            )
            .push_bind(int(micros(t)));
    }
    if q.supervision_open {
        w.and().push("supervision_issue_time_us IS NOT NULL");
    }
    if let Some(number) = &q.legacy_number {
        // Found by the unique (legacy_number, legacy_hotline) index.
        w.and()
            .push("legacy_number = ")
            .push_bind(text(number.clone()));
    }
    if let Some(index) = phone_index {
        w.and()
            .push("caller_phone_index = ")
            .push_bind(text(index.to_owned()));
    }
    if let Some(after) = q.after {
        // A row-value comparison: both backends seek the (time, id) index
        // straight to the cursor, where the equivalent OR form made
        // PostgreSQL walk the index from its start (28 ms against 0.1 ms
        // for page 1,000 of 10 million tickets).
        let op = if q.oldest_first { ">" } else { "<" };
        w.and()
            .push(format_args!("({time}, {id}) {op} ("))
            .push_bind(int(micros(after.create_time)))
            .push(", ")
            .push_bind(text(after.id.to_string()))
            .push(")");
    }
}

#[cfg(test)]
mod tests;
