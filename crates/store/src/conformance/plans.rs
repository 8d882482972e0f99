//! Every ticket list reads its page off an index, also under the plan
//! PostgreSQL makes once for any value (issue #15): sqlx prepares each
//! statement, and after five executions PostgreSQL may switch to a generic
//! plan, which for a district written as a range bitmap-scanned the whole
//! district and sorted it (173 ms for 120 k rows against 0.24 ms).
//!
//! PostgreSQL only: SQLite plans every statement with its values. The
//! check seeds a few thousand tickets over several districts, streets,
//! units and states, runs every list kind and filter combination ten times
//! through the store (and GetTicket and ListTicketEvents, the reads of one
//! ticket, likewise), then explains the very statement the store sent
//! ([`crate::lists_sql::list_query`]) with `plan_cache_mode =
//! force_generic_plan` and fails on a Sort of more rows than the page, on
//! a sequential or bitmap scan of the tickets, or on a sequential scan of
//! their co-units.
//!
//! Duplicate search's place reads (the open tickets of a street or a
//! district, [`cases::OPEN_PLACE_READS`]) are held to more: after a VACUUM
//! (which marks the pages all-visible, as autovacuum keeps a live table),
//! the narrow read must be one range of its place's partial index of open
//! tickets, an Index Only Scan, with no Sort and no Append of per-state
//! parts; the whole-ticket list of the same query one range of that index.
//!
//! Not held to it: a city supervisor's whole-ticket list of a street's
//! open tickets, whose area is a range the generic plan cannot cost: it
//! expects two rows, bitmap-reads the street's per-state index and sorts
//! them (the narrow read of the same query, which is what duplicate search
//! sends, is held to the index-only range above); and region prefixes that
//! name no level of the directory (7–8 or 10–11 digits) narrow by their
//! district or street and keep a range the generic plan cannot cost.
//!
//! A unit's overdue list and its open supervision orders are held to their
//! unit's partial index instead ([`cases::UNIT_WORK_LISTS`]): the plan may
//! bitmap-read and sort the unit's tickets in handling (or its orders),
//! which are its workload, but nothing else of the table.

mod cases;

use std::str::FromStr;

use chrono::TimeDelta;
use serde_json::Value as Json;
use sqlx::{Connection, PgConnection, Postgres, postgres::PgConnectOptions};

use crate::{
    CounterScope, TicketQuery,
    article_uses_sql::uses_query,
    events_sql::SELECT_EVENTS,
    lists_sql::list_query,
    sketches_sql::{by_ids_query, sketch_query},
    testing::TestBackend,
    testing::open_in_schema,
    ticket_columns::TICKET_COLUMNS,
    tickets_sql::{DUPLICATES_OF, SELECT_TICKET},
};
use hotline_domain::{
    Action,
    directory::UnitKind,
    ticket::{RequestType, Ticket},
};

use super::fixtures::{
    agent, create_at, dispatch, dispatch_with, handler, intake, seed_more_units, seed_units, step,
    t0, unit, unit_id,
};

/// Copies of each seeded ticket, spread over [`REGIONS`], [`UNITS`] units
/// and hours: 30,000 tickets, enough that reading a whole district or
/// state costs a plan more than walking an index for a page.
const COPIES: i64 = 500;
/// Units the copies are led and co-handled by (`u00`…).
const UNITS: usize = 20;
/// Where the copies are: three districts of one city, streets of two of
/// them, one district of another province.
const REGIONS: [&str; 8] = [
    "330106001",
    "330106002",
    "330106",
    "330102001",
    "330102",
    "330108003",
    "330108",
    "110101001",
];
const PAGE: u32 = 20;

/// Tickets in each state the lists filter on, led by or co-handled by
/// the seeded units, three in four of them finished (as in a centre, where
/// most tickets are); the store writes them as the service would.
async fn seed_originals(store: &dyn crate::Store) {
    seed_units(store).await;
    seed_more_units(store).await;
    for i in 0..UNITS {
        let u = unit(&format!("u{i:02}"), UnitKind::Department, "330100", None);
        store.create_unit(&u, None).await.expect("create_unit");
    }
    let market = unit_id("market-regulation");
    let district = unit_id("d330106");
    let phones = [Some("13800131234"), Some("13900001111"), None];
    let types = [
        RequestType::Complaint,
        RequestType::Enquiry,
        RequestType::Help,
    ];
    for i in 0..60_i64 {
        let now = t0() + TimeDelta::minutes(i);
        let later = now + TimeDelta::seconds(5);
        let i = usize::try_from(i).expect("small");
        let (t, _) = create_at(
            store,
            intake("330106001", types[i % 3], phones[i % 3]),
            now,
            None,
        )
        .await;
        let lead = if i % 2 == 0 { &market } else { &district };
        let _: Ticket = match i % 20 {
            0 => t,
            1 => {
                step(store, &t, dispatch(lead.as_str()), &agent(), later)
                    .await
                    .ticket
            }
            2 => {
                // Some under a supervision order (督办), for its list.
                let t = step(store, &t, dispatch(lead.as_str()), &agent(), later)
                    .await
                    .ticket;
                if i % 40 != 2 {
                    continue;
                }
                let order = Action::IssueSupervision {
                    reason: "逾期未办".into(),
                    response_deadline: later + TimeDelta::days(3),
                };
                step(store, &t, order, &agent(), later + TimeDelta::seconds(1))
                    .await
                    .ticket
            }
            3 => {
                let t = step(store, &t, dispatch(lead.as_str()), &agent(), later)
                    .await
                    .ticket;
                step(
                    store,
                    &t,
                    Action::Sign,
                    &handler(lead),
                    later + TimeDelta::seconds(1),
                )
                .await
                .ticket
            }
            4 => {
                step(
                    store,
                    &t,
                    dispatch_with(district.as_str(), &[market.as_str(), "env-bureau"]),
                    &agent(),
                    later,
                )
                .await
                .ticket
            }
            _ => {
                step(
                    store,
                    &t,
                    Action::ResolveAtIntake {
                        answer: "已答复".into(),
                        article_ids: Vec::new(),
                    },
                    &agent(),
                    later,
                )
                .await
                .ticket
            }
        };
    }
}

/// The id of copy `g` of original `o.k`: the original's time bits, then
/// the copy's number where the random bits were (a valid, unique UUID).
fn copy_id(_table: &str) -> &'static str {
    "left(o.id, 24) || lpad(to_hex(g * 100 + o.k), 12, '0')"
}

/// Copies every ticket (and its co-unit rows) [`COPIES`] times with SQL,
/// each copy an hour later and in another region; then fresh statistics.
fn multiply_sql() -> String {
    let regions = REGIONS.map(|r| format!("'{r}'")).join(", ");
    let region = format!(
        "(ARRAY[{regions}])[1 + (g + ascii(right(t.id, 1))) % {}]",
        REGIONS.len()
    );
    let shift = "g * 3600000000";
    let units = format!(
        "ARRAY[{}]",
        (0..UNITS)
            .map(|i| format!("'u{i:02}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // A copy's lead is unit g, its co-units g + 1 and g + 2: never the lead,
    // never each other.
    let unit_at = |offset: &str| format!("({units})[1 + (g + {offset}) % {UNITS}]");
    let columns: Vec<&str> = TICKET_COLUMNS.iter().map(|(name, _)| *name).collect();
    let values: Vec<String> = columns
        .iter()
        .map(|name| match *name {
            "id" => copy_id("t").into(),
            "number" => "t.number || '-' || g".into(),
            "region_code" => region.clone(),
            "district_code" => format!("substr({region}, 1, 6)"),
            "street_code" => {
                format!("CASE WHEN length({region}) >= 9 THEN substr({region}, 1, 9) END")
            }
            "create_time_us" | "update_time_us" => format!("t.{name} + {shift}"),
            "lead_unit_id" => format!(
                "CASE WHEN t.lead_unit_id IS NULL THEN NULL ELSE {} END",
                unit_at("0")
            ),
            "co_unit_ids" => format!(
                "CASE WHEN t.co_unit_ids = '' THEN '' ELSE {} || ',' || {} END",
                unit_at("1"),
                unit_at("2")
            ),
            // Sealed with the original's id: the copies keep clear text
            // instead, as rows from before sealing do (their phone stays
            // findable by its blind index).
            "caller_name" | "caller_phone" | "callback_comment" | "pii_key_id" => "NULL".into(),
            "address" | "description" => format!("'{name}'"),
            other => format!("t.{other}"),
        })
        .collect();
    format!(
        "CREATE TEMPORARY TABLE originals AS \
         SELECT id, row_number() OVER (ORDER BY id) AS k FROM tickets; \
         INSERT INTO tickets ({}) SELECT {} FROM tickets t JOIN originals o ON o.id = t.id, \
         generate_series(1, {COPIES}) g; \
         INSERT INTO ticket_co_units (ticket_id, unit_id, ticket_create_time_us) \
         SELECT {c_id}, CASE c.unit_id WHEN 'market-regulation' THEN {co1} ELSE {co2} END, \
         c.ticket_create_time_us + {shift} \
         FROM ticket_co_units c JOIN originals o ON o.id = c.ticket_id, \
         generate_series(1, {COPIES}) g; \
         ANALYZE tickets; ANALYZE ticket_co_units;",
        columns.join(", "),
        values.join(", "),
        c_id = copy_id("c"),
        co1 = unit_at("1"),
        co2 = unit_at("2"),
    )
}

/// What in a plan (EXPLAIN's JSON tree) reads more than the page needs.
fn faults(node: &Json, page: f64, out: &mut Vec<String>) {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    let relation = node["Relation Name"].as_str().unwrap_or_default();
    // A unit's co-handled pairs may be gathered by a bitmap when the plan
    // expects few: if it then sorts more than a page, the Sort shows it.
    let scans_whole = match relation {
        "tickets" | "ticket_events" => matches!(kind, "Seq Scan" | "Bitmap Heap Scan"),
        "ticket_co_units" => kind == "Seq Scan",
        _ => false,
    };
    if scans_whole {
        out.push(format!("{kind} on {relation}"));
    }
    let rows = node["Plan Rows"].as_f64().unwrap_or_default();
    if matches!(kind, "Sort" | "Incremental Sort") && rows > page {
        out.push(format!("{kind} of {rows} rows"));
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        faults(child, page, out);
    }
}

/// What in a plan reads tickets other than off `index` (by index scan or
/// by bitmap), or scans a table whole.
fn only_off(plan: &Json, index: &str, out: &mut Vec<String>) {
    let text = plan.to_string();
    if text.contains("Seq Scan") {
        out.push("a Seq Scan".into());
    }
    let mut indexes = Vec::new();
    fn index_names<'a>(node: &'a Json, names: &mut Vec<&'a str>) {
        if let Some(name) = node["Index Name"].as_str() {
            names.push(name);
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            index_names(child, names);
        }
    }
    index_names(plan, &mut indexes);
    if indexes != [index] {
        out.push(format!("read off {indexes:?}, not {index} alone"));
    }
}

/// What keeps a plan (EXPLAIN's JSON tree) from being one range of
/// `index` on the tickets, with no Sort or Append (the parts of a
/// UNION ALL), and, if `index_only`, without visiting the table.
fn one_range_of(plan: &Json, index: &str, index_only: bool, out: &mut Vec<String>) {
    fn nodes<'a>(node: &'a Json, all: &mut Vec<&'a Json>) {
        all.push(node);
        for child in node["Plans"].as_array().into_iter().flatten() {
            nodes(child, all);
        }
    }
    let mut all = Vec::new();
    nodes(plan, &mut all);
    let kind = |n: &Json| n["Node Type"].as_str().unwrap_or_default().to_owned();
    for node in &all {
        let k = kind(node);
        if matches!(
            k.as_str(),
            "Sort" | "Incremental Sort" | "Append" | "Merge Append"
        ) {
            out.push(format!("a {k}"));
        }
    }
    let scans: Vec<&&Json> = all
        .iter()
        .filter(|n| n["Relation Name"].as_str() == Some("tickets"))
        .collect();
    let wanted = if index_only {
        "Index Only Scan"
    } else {
        "Index Scan"
    };
    match scans.as_slice() {
        [scan] if kind(scan) == wanted && scan["Index Name"].as_str() == Some(index) => {}
        _ => out.push(format!(
            "not one {wanted} of {index} but {}",
            scans
                .iter()
                .map(|n| format!("{} of {}", kind(n), n["Index Name"].as_str().unwrap_or("-")))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The generic plan of `sql` (a statement with `$n` placeholders).
async fn generic_plan(conn: &mut PgConnection, sql: &str) -> Json {
    let prepare = format!("PREPARE probe AS {sql}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("cannot prepare {sql}: {e}"));
    let (params,): (i32,) = sqlx::query_as(
        "SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 'probe'",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("the prepared statement");
    // A generic plan is made without the values, so NULLs stand in.
    let nulls = vec!["NULL"; usize::try_from(params).expect("count")].join(", ");
    let args = if nulls.is_empty() {
        String::new()
    } else {
        format!("({nulls})")
    };
    let explain = format!("EXPLAIN (FORMAT JSON) EXECUTE probe{args}");
    let (plan,): (Json,) = sqlx::query_as(sqlx::AssertSqlSafe(explain))
        .fetch_one(&mut *conn)
        .await
        .expect("explain");
    sqlx::raw_sql("DEALLOCATE probe")
        .execute(&mut *conn)
        .await
        .expect("deallocate");
    plan[0]["Plan"].clone()
}

/// A connection to the store's schema that always plans generically.
async fn generic_connection(url: &str, schema: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(url)
        .expect("TEST_DATABASE_URL")
        .options([
            ("search_path", schema),
            ("plan_cache_mode", "force_generic_plan"),
        ]);
    PgConnection::connect_with(&options)
        .await
        .expect("connect to PostgreSQL")
}

/// The must-hold check of issue #15, point 1 (see the module comment).
pub async fn every_list_reads_its_page_off_an_index(backend: &TestBackend) {
    assert!(
        matches!(backend, TestBackend::Postgres(_)),
        "plans are checked on PostgreSQL"
    );
    let database = backend.fresh_database().await;
    let (url, schema) = database.location();
    let schema = schema.expect("a PostgreSQL schema");
    let store = open_in_schema(url, Some(schema), 4)
        .await
        .expect("open test store");
    seed_originals(store.as_ref()).await;
    let mut conn = generic_connection(url, schema).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(multiply_sql()))
        .execute(&mut conn)
        .await
        .expect("multiply the tickets");
    // Every ticket resolved at intake citing one of 50 articles.
    sqlx::raw_sql(
        "INSERT INTO article_citations (ticket_id, sequence, article_id, time_us) \
         SELECT id, 1, 'article-' || (abs(hashtext(id)) % 50), create_time_us FROM tickets",
    )
    .execute(&mut conn)
    .await
    .expect("cite articles");
    // Pages all-visible, as autovacuum keeps a live table: an index-only
    // scan is then what it says (VACUUM runs outside a transaction, so
    // each table alone).
    for table in ["tickets", "article_citations"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM (ANALYZE) {table}")))
            .execute(&mut conn)
            .await
            .expect("vacuum");
    }
    let mut failures = Vec::new();
    for (name, query) in cases::cases() {
        let mut seen = None;
        for _ in 0..10 {
            let page = store.list_tickets(&query).await.expect("list_tickets");
            assert!(page.len() <= PAGE as usize, "{name}: at most a page");
            let ids: Vec<_> = page.iter().map(|t| t.id).collect();
            assert!(
                seen.as_ref().is_none_or(|s| *s == ids),
                "{name}: same page each time"
            );
            seen = Some(ids);
        }
        let phone_index = query.caller_phone.as_deref().map(|p| {
            crate::testing::test_pii_codec()
                .phone_index(p)
                .expect("index")
        });
        let mut statements = vec![(
            name.to_owned(),
            list_query::<Postgres>(&query, phone_index.as_deref())
                .sql()
                .as_str()
                .to_owned(),
        )];
        // Duplicate search reads the same lists narrowly (sketches only).
        if name.contains("(duplicate candidates)") {
            let sketches = store
                .list_ticket_sketches(&query)
                .await
                .expect("list_ticket_sketches");
            assert!(sketches.len() <= PAGE as usize, "{name}: at most a page");
            statements.push((
                format!("{name}, sketches only"),
                sketch_query::<Postgres>(&query, phone_index.as_deref())
                    .sql()
                    .as_str()
                    .to_owned(),
            ));
        }
        let open_place = cases::OPEN_PLACE_READS
            .iter()
            .find(|(case, ..)| *case == name);
        let open_index = open_place.map(|(.., index)| *index);
        if open_place.is_some_and(|(_, _, area, _)| area.is_some()) {
            // See the module comment: only the narrow read is held.
            statements.remove(0);
        }
        let unit_work = cases::UNIT_WORK_LISTS
            .iter()
            .find(|(case, _)| *case == name)
            .map(|(_, index)| *index);
        for (name, sql) in statements {
            let plan = generic_plan(&mut conn, &sql).await;
            let mut found = Vec::new();
            match unit_work {
                Some(index) => only_off(&plan, index, &mut found),
                None => faults(&plan, f64::from(PAGE), &mut found),
            }
            if let Some(index) = open_index {
                let narrow = name.ends_with(", sketches only");
                one_range_of(&plan, index, narrow, &mut found);
            }
            if !found.is_empty() {
                failures.push(format!("{name}: {}\n  {sql}\n  {plan}", found.join(", ")));
            }
        }
    }
    // The candidates shown, read whole by key: an index probe per id (a
    // bitmap over the key index is as good for a handful of ids), never a
    // scan of the table.
    let some: Vec<_> = store
        .list_tickets(&TicketQuery::all(10))
        .await
        .expect("list_tickets")
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        store.get_tickets(&some).await.expect("get_tickets").len(),
        some.len()
    );
    let sql = by_ids_query::<Postgres>(&some).sql().as_str().to_owned();
    let plan = generic_plan(&mut conn, &sql).await;
    if plan.to_string().contains("Seq Scan") {
        failures.push(format!(
            "the candidates by id: a table scan\n  {sql}\n  {plan}"
        ));
    }
    // The reads of one ticket, by key: GetTicket and ListTicketEvents.
    let any = store
        .list_tickets(&TicketQuery::all(1))
        .await
        .expect("list_tickets")
        .pop()
        .expect("a ticket");
    for _ in 0..10 {
        store.get_ticket(any.id).await.expect("get_ticket");
        store
            .list_events(any.id, 0, PAGE)
            .await
            .expect("list_events");
    }
    for (name, sql) in [
        ("GetTicket", SELECT_TICKET.as_str()),
        ("ListTicketEvents", SELECT_EVENTS.as_str()),
        ("a primary's merged duplicates", DUPLICATES_OF.as_str()),
    ] {
        let plan = generic_plan(&mut conn, sql).await;
        let mut found = Vec::new();
        faults(&plan, f64::from(PAGE), &mut found);
        if !found.is_empty() {
            failures.push(format!("{name}: {}\n  {sql}\n  {plan}", found.join(", ")));
        }
    }
    // The citations of a period (ListArticleUsage, scorecards, the
    // report), for the centre and for a unit's subtree: one range of the
    // citations' time index, never a scan of them.
    for owners in [CounterScope::Centre, CounterScope::Subtree(unit_id("u00"))] {
        let sql = uses_query::<Postgres>(t0(), t0(), &owners, 10)
            .sql()
            .as_str()
            .to_owned();
        let plan = generic_plan(&mut conn, &sql).await.to_string();
        if !plan.contains("article_citations_time")
            || plan.contains("Seq Scan on article_citations")
        {
            failures.push(format!(
                "the citations of a period ({owners:?})\n  {sql}\n  {plan}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "reads that read more than their page under a generic plan:\n{}",
        failures.join("\n")
    );
}
