//! Listing tickets: every `list_tickets` filter, and keyset paging.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};

use crate::{Store, TicketCursor, TicketQuery};
use hotline_domain::{
    Action, TicketId,
    access::ListScope,
    ticket::{RequestType, Ticket, TicketState},
};

use super::fixtures::{
    agent, create_at, dispatch, dispatch_with, handler, ids, intake, micros, seed_units, step, t0,
    unit_id,
};

const PHONES: [Option<&str>; 4] = [
    Some("13800131234"),
    Some("13900001111"),
    Some("057187654321"),
    None,
];
const REGIONS: [&str; 5] = ["330106001", "330106", "330102", "330201", "110101"];
const TYPES: [RequestType; 4] = [
    RequestType::Enquiry,
    RequestType::Complaint,
    RequestType::Help,
    RequestType::Suggestion,
];

/// When the tickets with identical `create_time` were created.
fn same_instant() -> DateTime<Utc> {
    t0() + TimeDelta::minutes(10) + micros(500_000)
}

/// 25 tickets one minute (plus a microsecond) apart, then 6 created at the
/// very same instant, spread over regions, types, phones, states and lead
/// units. Returns them as stored.
async fn seed_tickets(store: &dyn Store) -> Vec<Ticket> {
    seed_units(store).await;
    let market = unit_id("market-regulation");
    let district = unit_id("d330106");
    let mut tickets = Vec::new();
    let mut times: Vec<DateTime<Utc>> = (0..25)
        .map(|i| t0() + TimeDelta::minutes(i) + micros(i))
        .collect();
    times.extend(std::iter::repeat_n(same_instant(), 6));
    for (i, now) in times.into_iter().enumerate() {
        // Spread the attributes so that no two of them move in lockstep.
        let phone = PHONES[i % PHONES.len()];
        let request_type = if i % 9 == 4 {
            RequestType::Report
        } else {
            TYPES[(i / 2) % TYPES.len()]
        };
        let region_code = REGIONS[(i + i / 5) % REGIONS.len()];
        let (t, _) = create_at(store, intake(region_code, request_type, phone), now, None).await;
        let later = now + TimeDelta::seconds(5);
        let t = match i % 5 {
            0 => t,
            1 => {
                step(store, &t, dispatch(market.as_str()), &agent(), later)
                    .await
                    .ticket
            }
            2 => {
                let t = step(store, &t, dispatch(district.as_str()), &agent(), later)
                    .await
                    .ticket;
                step(
                    store,
                    &t,
                    Action::Sign,
                    &handler(&district),
                    later + micros(1),
                )
                .await
                .ticket
            }
            3 => {
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
            _ => {
                // Co-handled by market: the unit scope includes it, the
                // lead-unit filter does not.
                step(
                    store,
                    &t,
                    dispatch_with(district.as_str(), &[market.as_str()]),
                    &agent(),
                    later,
                )
                .await
                .ticket
            }
        };
        tickets.push(t);
    }
    tickets
}

/// What `list_tickets` must return for `q`, computed from the fixtures:
/// newest first, or oldest first when asked.
fn expected_list(tickets: &[Ticket], q: &TicketQuery) -> Vec<Ticket> {
    let mut out: Vec<Ticket> = tickets.iter().filter(|t| selects(q, t)).cloned().collect();
    if q.oldest_first {
        out.sort_by_key(|t| (t.create_time, t.id));
    } else {
        out.sort_by_key(|t| std::cmp::Reverse((t.create_time, t.id)));
    }
    out.truncate(q.limit as usize);
    out
}

/// The documented meaning of each [`TicketQuery`] filter.
fn selects(q: &TicketQuery, t: &Ticket) -> bool {
    let in_scope = match &q.scope {
        ListScope::All => true,
        ListScope::Limited {
            region_prefix,
            unit,
        } => {
            region_prefix
                .as_deref()
                .is_some_and(|r| t.intake.region_code.within(r))
                || unit
                    .as_ref()
                    .is_some_and(|u| t.lead_unit.as_ref() == Some(u) || t.co_units.contains(u))
        }
    };
    in_scope
        && (q.states.is_empty() || q.states.contains(&t.state))
        && q.lead_unit
            .as_ref()
            .is_none_or(|u| t.lead_unit.as_ref() == Some(u))
        && q.request_type.is_none_or(|r| t.intake.request_type == r)
        && q.region_prefix
            .as_deref()
            .is_none_or(|r| t.intake.region_code.within(r))
        && q.created_from.is_none_or(|from| t.create_time >= from)
        && q.created_to.is_none_or(|to| t.create_time < to)
        && q.caller_phone.as_deref().is_none_or(|p| {
            t.intake
                .caller
                .phone
                .as_ref()
                .is_some_and(|ph| ph.expose() == p)
        })
        && q.after.is_none_or(|a| {
            let (row, cursor) = ((t.create_time, t.id), (a.create_time, a.id));
            if q.oldest_first {
                row > cursor
            } else {
                row < cursor
            }
        })
}

/// Named queries exercising every filter alone and in combination.
fn filter_queries(tickets: &[Ticket]) -> Vec<(String, TicketQuery)> {
    let base = TicketQuery::all(1000);
    let mut out = vec![("no filter".to_owned(), base.clone())];
    let mut add = |name: String, f: &dyn Fn(&mut TicketQuery)| {
        let mut q = base.clone();
        f(&mut q);
        out.push((name, q));
    };
    for state in [
        TicketState::PendingDispatch,
        TicketState::Dispatched,
        TicketState::InProgress,
        TicketState::ResolvedAtIntake,
    ] {
        add(format!("state {state}"), &|q| q.states = vec![state]);
    }
    add("states dispatched|in_progress".into(), &|q| {
        q.states = vec![TicketState::Dispatched, TicketState::InProgress]
    });
    add("state closed (none)".into(), &|q| {
        q.states = vec![TicketState::Closed]
    });
    for u in ["market-regulation", "d330106", "s330106001"] {
        add(format!("lead unit {u}"), &|q| {
            q.lead_unit = Some(unit_id(u))
        });
    }
    for r in [
        RequestType::Enquiry,
        RequestType::Complaint,
        RequestType::Report,
        RequestType::Praise,
    ] {
        add(format!("request type {r}"), &|q| q.request_type = Some(r));
    }
    for p in [
        "3",
        "33",
        "3301",
        "330106",
        "330106001",
        "3302",
        "1101",
        "9",
        // Between a district and a street, longer than a street, and a
        // community: each narrows by its district or street first.
        "3301060",
        "3301060010",
        "330106001001",
    ] {
        add(format!("region prefix {p}"), &|q| {
            q.region_prefix = Some(p.into())
        });
    }
    // Time windows whose bounds fall exactly on create times: from is
    // inclusive, to exclusive.
    let t5 = tickets[5].create_time;
    let t12 = tickets[12].create_time;
    let same = same_instant();
    add("created from t5".into(), &|q| q.created_from = Some(t5));
    add("created to t5".into(), &|q| q.created_to = Some(t5));
    add("created in [t5, t12)".into(), &|q| {
        q.created_from = Some(t5);
        q.created_to = Some(t12);
    });
    add("created in [t5, t5 + 1us)".into(), &|q| {
        q.created_from = Some(t5);
        q.created_to = Some(t5 + micros(1));
    });
    add("created in [t5 + 1us, t5 + 60s)".into(), &|q| {
        q.created_from = Some(t5 + micros(1));
        q.created_to = Some(t5 + TimeDelta::seconds(60));
    });
    add("created in [same, same]".into(), &|q| {
        q.created_from = Some(same);
        q.created_to = Some(same);
    });
    add("created at the shared instant".into(), &|q| {
        q.created_from = Some(same);
        q.created_to = Some(same + micros(1));
    });
    for p in ["13800131234", "13900001111", "057187654321", "13700000000"] {
        add(format!("caller phone {p}"), &|q| {
            q.caller_phone = Some(p.into())
        });
    }
    add("scope region 330106".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: Some("330106".into()),
            unit: None,
        }
    });
    add("scope unit market-regulation".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: None,
            unit: Some(unit_id("market-regulation")),
        }
    });
    add("scope region 1101 or unit market-regulation".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: Some("1101".into()),
            unit: Some(unit_id("market-regulation")),
        }
    });
    // Overlapping parts: tickets of the region led by the unit are listed
    // once.
    add("scope region 330106 or unit d330106".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: Some("330106".into()),
            unit: Some(unit_id("d330106")),
        }
    });
    add(
        "scope unit market-regulation + dispatched|in_progress".into(),
        &|q| {
            q.scope = ListScope::Limited {
                region_prefix: None,
                unit: Some(unit_id("market-regulation")),
            };
            q.states = vec![
                TicketState::InProgress,
                TicketState::Dispatched,
                TicketState::InProgress,
            ];
        },
    );
    add(
        "scope street 330106001 or unit market-regulation, oldest first".into(),
        &|q| {
            q.scope = ListScope::Limited {
                region_prefix: Some("330106001".into()),
                unit: Some(unit_id("market-regulation")),
            };
            q.oldest_first = true;
        },
    );
    add("scope nothing".into(), &|q| {
        q.scope = ListScope::Limited {
            region_prefix: None,
            unit: None,
        }
    });
    add(
        "scope region 3301 + state dispatched + phone".into(),
        &|q| {
            q.scope = ListScope::Limited {
                region_prefix: Some("3301".into()),
                unit: None,
            };
            q.states = vec![TicketState::Dispatched];
            q.caller_phone = Some("13900001111".into());
        },
    );
    add("unit d330106 + region 330106 + enquiry".into(), &|q| {
        q.lead_unit = Some(unit_id("d330106"));
        q.region_prefix = Some("330106".into());
        q.request_type = Some(RequestType::Enquiry);
    });
    add("pending + region 33 + after t12".into(), &|q| {
        q.states = vec![TicketState::PendingDispatch];
        q.region_prefix = Some("33".into());
        q.created_from = Some(t12);
    });
    out
}

/// Each `list_tickets` filter — states, lead unit, request type, region
/// prefix, created from (inclusive) / to (exclusive), caller phone and the
/// reader's row scope — selects exactly the matching tickets, newest first.
pub async fn list_tickets_filters(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tickets = seed_tickets(store).await;
    let all = tickets.len();
    // Queries that select nothing; every other filter must select something
    // but not everything, so no check passes vacuously.
    let empty = [
        "state closed (none)",
        "lead unit s330106001",
        "request type praise",
        "region prefix 9",
        "region prefix 3301060010",
        "region prefix 330106001001",
        "created in [same, same]",
        "created in [t5 + 1us, t5 + 60s)",
        "caller phone 13700000000",
        "scope nothing",
    ];
    for (name, q) in filter_queries(&tickets) {
        let expected = expected_list(&tickets, &q);
        let got = store.list_tickets(&q).await.expect("list_tickets");
        assert_eq!(
            ids(&got),
            ids(&expected),
            "list_tickets({name}) returns the matching tickets newest first"
        );
        assert_eq!(got, expected, "list_tickets({name}) returns whole tickets");
        if name == "no filter" {
            assert_eq!(got.len(), all);
        } else if empty.contains(&name.as_str()) {
            assert!(got.is_empty(), "list_tickets({name}) must be empty");
        } else {
            assert!(
                !got.is_empty() && got.len() < all,
                "list_tickets({name}) must filter: {}",
                got.len()
            );
        }
    }

    // The limit caps the page.
    let got = store
        .list_tickets(&TicketQuery::all(3))
        .await
        .expect("list_tickets");
    assert_eq!(got, expected_list(&tickets, &TicketQuery::all(3)));
    assert!(
        store
            .list_tickets(&TicketQuery::all(0))
            .await
            .expect("list_tickets")
            .is_empty()
    );
}

/// Walks `q` page by page with the cursor of each page's last row, in every
/// page size, and checks each page and the whole walk against the fixtures.
async fn walk_pages(store: &dyn Store, tickets: &[Ticket], name: &str, q: &TicketQuery) {
    let expected = expected_list(tickets, q);
    assert!(!expected.is_empty(), "{name}: fixture selects something");
    let order = if q.oldest_first {
        "oldest first"
    } else {
        "newest first"
    };
    for size in [1_u32, 2, 4, 5, 7, 1000] {
        let mut walked: Vec<Ticket> = Vec::new();
        let mut cursor = None;
        loop {
            let mut page_query = q.clone();
            page_query.after = cursor;
            page_query.limit = size;
            let page = store
                .list_tickets(&page_query)
                .await
                .expect("list_tickets page");
            assert!(
                page.len() <= size as usize,
                "{name}/{size}: page within limit"
            );
            assert_eq!(
                page,
                expected_list(tickets, &page_query),
                "{name}/{size}: page content, {order}"
            );
            let Some(last) = page.last() else { break };
            cursor = Some(TicketCursor {
                create_time: last.create_time,
                id: last.id,
            });
            let short = page.len() < size as usize;
            walked.extend(page);
            assert!(
                walked.len() <= expected.len(),
                "{name}/{size}: paging repeats rows"
            );
            if short {
                break;
            }
        }
        let unique: HashSet<TicketId> = walked.iter().map(|t| t.id).collect();
        assert_eq!(
            unique.len(),
            walked.len(),
            "{name}/{size}: no duplicates across pages"
        );
        assert_eq!(
            ids(&walked),
            ids(&expected),
            "{name}/{size}: no gaps, {order}"
        );
    }
}

/// Keyset paging with the `(create_time, id)` cursor of the last row walks
/// every matching ticket exactly once, in order — including tickets that
/// share a `create_time`, which the id breaks ties between.
pub async fn list_tickets_pages_without_gaps_or_duplicates(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tickets = seed_tickets(store).await;
    let same: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.create_time == same_instant())
        .collect();
    assert_eq!(same.len(), 6, "fixture has tickets sharing a create_time");

    let queries = filter_queries(&tickets);
    let chosen = [
        "no filter",
        "region prefix 3301",
        "states dispatched|in_progress",
        "created at the shared instant",
        "scope region 1101 or unit market-regulation",
        "scope region 330106 or unit d330106",
        "scope unit market-regulation + dispatched|in_progress",
        "caller phone 13800131234",
    ];
    for (name, q) in queries
        .into_iter()
        .filter(|(n, _)| chosen.contains(&n.as_str()))
    {
        walk_pages(store, &tickets, &name, &q).await;
    }

    // A cursor in the middle of the shared instant continues with the rest of
    // that instant (smaller ids) and then older tickets.
    let mut same_sorted = same.clone();
    same_sorted.sort_by_key(|t| std::cmp::Reverse(t.id));
    let pivot = same_sorted[2];
    let mut q = TicketQuery::all(1000);
    q.after = Some(TicketCursor {
        create_time: pivot.create_time,
        id: pivot.id,
    });
    let got = store.list_tickets(&q).await.expect("list_tickets");
    let rest_of_instant: Vec<TicketId> = same_sorted[3..].iter().map(|t| t.id).collect();
    assert_eq!(
        ids(&got[..3]),
        rest_of_instant,
        "the cursor's instant continues by id"
    );
    assert_eq!(ids(&got), ids(&expected_list(&tickets, &q)));
}

/// With `oldest_first` (the triage queue) every filter selects the same
/// tickets, ordered oldest first by `(create_time, id)`; the limit keeps the
/// oldest; the cursor continues with later rows — within a shared instant by
/// larger id — and keyset paging walks every row once, in that order.
pub async fn list_tickets_oldest_first_orders_and_pages(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let tickets = seed_tickets(store).await;
    let queries: Vec<(String, TicketQuery)> = filter_queries(&tickets)
        .into_iter()
        .map(|(name, mut q)| {
            q.oldest_first = true;
            (name, q)
        })
        .collect();
    for (name, q) in &queries {
        let expected = expected_list(&tickets, q);
        let got = store.list_tickets(q).await.expect("list_tickets");
        assert_eq!(
            ids(&got),
            ids(&expected),
            "list_tickets({name}) oldest first"
        );
        assert_eq!(
            &got, &expected,
            "list_tickets({name}) returns whole tickets"
        );
        // The same rows as newest first, reversed.
        let mut newest = q.clone();
        newest.oldest_first = false;
        let mut reversed = store.list_tickets(&newest).await.expect("list_tickets");
        reversed.reverse();
        assert_eq!(
            ids(&got),
            ids(&reversed),
            "{name}: oldest first is newest first reversed"
        );
    }

    // The limit keeps the oldest rows, not the newest reversed.
    let mut q = TicketQuery::all(3);
    q.oldest_first = true;
    let got = store.list_tickets(&q).await.expect("list_tickets");
    assert_eq!(ids(&got), ids(&tickets[..3]), "the three oldest");
    assert_eq!(got, expected_list(&tickets, &q));

    let chosen = [
        "no filter",
        "state pending_dispatch",
        "region prefix 3301",
        "states dispatched|in_progress",
        "created at the shared instant",
        "scope unit market-regulation",
        "scope region 1101 or unit market-regulation",
    ];
    for (name, q) in queries.iter().filter(|(n, _)| chosen.contains(&n.as_str())) {
        walk_pages(store, &tickets, name, q).await;
    }

    // A cursor in the middle of the shared instant continues with the rest
    // of that instant (larger ids), then newer tickets.
    let mut same: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.create_time == same_instant())
        .collect();
    same.sort_by_key(|t| t.id);
    let pivot = same[2];
    let mut q = TicketQuery::all(1000);
    q.oldest_first = true;
    q.after = Some(TicketCursor {
        create_time: pivot.create_time,
        id: pivot.id,
    });
    let got = store.list_tickets(&q).await.expect("list_tickets");
    let rest: Vec<TicketId> = same[3..].iter().map(|t| t.id).collect();
    assert_eq!(ids(&got[..3]), rest, "the cursor's instant continues by id");
    assert_eq!(ids(&got), ids(&expected_list(&tickets, &q)));
    // A cursor on the oldest ticket skips only it.
    q.after = Some(TicketCursor {
        create_time: tickets[0].create_time,
        id: tickets[0].id,
    });
    let got = store.list_tickets(&q).await.expect("list_tickets");
    assert_eq!(got.len(), tickets.len() - 1);
    assert_eq!(got[0].id, tickets[1].id);
    assert_eq!(ids(&got), ids(&expected_list(&tickets, &q)));
}
