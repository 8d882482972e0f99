//! The PII access log through `AuditService.ListPiiAccess` (issue #14,
//! point 7): who saw callers unmasked, by ticket, reader and period, in
//! pages; auditors and the admin only; reading it is recorded too; a
//! caller lookup is one row; old rows go after the retention.

use chrono::TimeDelta;
use hotline::{
    domain::{Clock, Role, TicketId},
    proto::{
        convert::to_timestamp,
        v1::{self as pb, audit_service_client::AuditServiceClient},
    },
    store::{PiiAccess, testing::TestBackend},
};
use tonic::{Code, transport::Channel};

use crate::helpers::{
    TestApp, authed, complaint, error_reason, spawn_app, spawn_app_on, spawn_app_with, token,
};

/// The audit client of one principal.
struct Auditor {
    token: String,
    client: AuditServiceClient<Channel>,
}

impl Auditor {
    fn of(app: &TestApp, subject: &str, role: Role) -> Self {
        Self {
            token: token(&app.settings, subject, role, None, None),
            client: AuditServiceClient::new(app.channel.clone()),
        }
    }

    async fn list(
        &mut self,
        request: pb::ListPiiAccessRequest,
    ) -> Result<pb::ListPiiAccessResponse, tonic::Status> {
        self.client
            .list_pii_access(authed(&self.token, request))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn by_ticket(&mut self, name: &str) -> Vec<pb::PiiAccess> {
        self.list(pb::ListPiiAccessRequest {
            ticket: name.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .accesses
    }

    async fn by_reader(&mut self, reader: &str) -> Vec<pb::PiiAccess> {
        self.list(pb::ListPiiAccessRequest {
            reader: reader.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .accesses
    }
}

fn row(a: &pb::PiiAccess) -> (&str, &str, &str, &str, Vec<&str>) {
    (
        a.reader.as_str(),
        a.role.as_str(),
        a.purpose.as_str(),
        a.rpc.as_str(),
        a.tickets.iter().map(String::as_str).collect(),
    )
}

#[tokio::test]
async fn the_log_lists_reads_by_ticket_reader_and_period_in_pages() {
    let app = spawn_app().await;
    app.add_regions(&["330106"]).await;
    let mut agent = app.agent();
    let mut supervisor = app.supervisor("3301");
    let t1 = agent.create(complaint()).await.name;
    let t2 = agent.create(complaint()).await.name;
    let start = app.clock.now();
    agent.get(&t1).await.unwrap();
    app.clock.advance(TimeDelta::minutes(10));
    supervisor.get(&t1).await.unwrap();
    app.clock.advance(TimeDelta::minutes(10));
    agent.get(&t2).await.unwrap();
    let last = app.clock.now();

    let mut auditor = Auditor::of(&app, "auditor-ann", Role::Auditor);
    let by_agent = auditor.by_reader("agent-alice").await;
    assert_eq!(
        by_agent.iter().map(row).collect::<Vec<_>>(),
        [
            (
                "agent-alice",
                "agent",
                "ticket_view",
                "GetTicket",
                vec![t2.as_str()]
            ),
            (
                "agent-alice",
                "agent",
                "ticket_view",
                "GetTicket",
                vec![t1.as_str()]
            ),
        ],
        "newest first, each with reader, role, purpose, RPC and ticket"
    );
    assert_eq!(by_agent[0].time, Some(to_timestamp(last)));
    assert_eq!(by_agent[1].time, Some(to_timestamp(start)));

    let by_t1 = auditor.by_ticket(&t1).await;
    assert_eq!(
        by_t1.iter().map(row).collect::<Vec<_>>(),
        [
            (
                "auditor-ann",
                "auditor",
                "access_audit",
                "ListPiiAccess",
                vec![t1.as_str()]
            ),
            (
                "sup-3301",
                "supervisor",
                "ticket_view",
                "GetTicket",
                vec![t1.as_str()]
            ),
            (
                "agent-alice",
                "agent",
                "ticket_view",
                "GetTicket",
                vec![t1.as_str()]
            ),
        ],
        "this very read is in the log first"
    );

    let middle = auditor
        .list(pb::ListPiiAccessRequest {
            start_time: Some(to_timestamp(start + TimeDelta::minutes(5))),
            end_time: Some(to_timestamp(last)),
            ..Default::default()
        })
        .await
        .unwrap()
        .accesses;
    assert_eq!(middle.len(), 1, "{middle:?}");
    assert_eq!(middle[0].reader, "sup-3301");

    // Pages of one over the agent's reads, then a changed filter is refused.
    let mut token = String::new();
    let mut paged = Vec::new();
    loop {
        let page = auditor
            .list(pb::ListPiiAccessRequest {
                page_size: 1,
                page_token: token.clone(),
                reader: "agent-alice".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        paged.extend(page.accesses);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        let err = auditor
            .list(pb::ListPiiAccessRequest {
                page_size: 1,
                page_token: token.clone(),
                reader: "sup-3301".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
    }
    assert_eq!(paged, by_agent);
}

#[tokio::test]
async fn a_caller_lookup_is_one_row_listing_the_tickets_it_showed() {
    let app = spawn_app().await;
    app.add_regions(&["330106"]).await;
    let mut agent = app.agent();
    let mut names = Vec::new();
    for _ in 0..3 {
        names.push(agent.create(complaint()).await.name);
    }
    let shown = agent
        .tickets
        .lookup_caller(authed(
            &agent.token,
            pb::LookupCallerRequest {
                phone: "13800131234".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .tickets;
    assert_eq!(shown.len(), 3);

    let mut auditor = Auditor::of(&app, "auditor-ann", Role::Auditor);
    let reads = auditor.by_reader("agent-alice").await;
    assert_eq!(reads.len(), 1, "one row for the call: {reads:?}");
    assert_eq!(
        (reads[0].rpc.as_str(), reads[0].purpose.as_str()),
        ("LookupCaller", "caller_lookup")
    );
    let mut listed = reads[0].tickets.clone();
    listed.sort();
    names.sort();
    assert_eq!(listed, names);
    for name in &names {
        let by_ticket = auditor.by_ticket(name).await;
        assert!(
            by_ticket.iter().any(|a| a.rpc == "LookupCaller"),
            "{name} finds the lookup"
        );
        let id = TicketId::from_name(name).unwrap();
        // The lookup and this test's own read of the log.
        assert_eq!(app.store.count_pii_access(id).await.unwrap(), 2);
    }
}

#[tokio::test]
async fn only_auditors_and_the_admin_read_the_log_and_auditors_read_nothing_else() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let ticket = agent.create(complaint()).await.name;
    agent.get(&ticket).await.unwrap();

    for (subject, role, unit, region) in [
        ("agent-bob", Role::Agent, None, None),
        ("sup-3301", Role::Supervisor, None, Some("3301")),
        (
            "handler-market-regulation",
            Role::UnitHandler,
            Some("market-regulation"),
            None,
        ),
    ] {
        let token = token(&app.settings, subject, role, unit, region);
        let err = AuditServiceClient::new(app.channel.clone())
            .list_pii_access(authed(&token, pb::ListPiiAccessRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role}");
    }
    let mut admin = Auditor::of(&app, "admin-root", Role::Admin);
    let seen = admin.by_ticket(&ticket).await;
    assert_eq!(seen.len(), 2, "the agent's view and the admin's read");
    assert_eq!(seen[0].role, "admin");
    let none_denied = admin.by_reader("agent-bob").await;
    assert!(none_denied.is_empty(), "a refused read is not a read");

    let auditor = app.as_token(token(
        &app.settings,
        "auditor-ann",
        Role::Auditor,
        None,
        None,
    ));
    let mut reader = auditor.clone();
    let err = reader.get(&ticket).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "auditors see no ticket");
}

#[tokio::test]
async fn bad_filters_name_the_field_and_an_unknown_ticket_is_not_found() {
    let app = spawn_app().await;
    let mut auditor = Auditor::of(&app, "auditor-ann", Role::Auditor);
    let now = app.clock.now();
    for (request, field) in [
        (
            pb::ListPiiAccessRequest {
                ticket: "tickets/nonsense".into(),
                ..Default::default()
            },
            "ticket",
        ),
        (
            pb::ListPiiAccessRequest {
                start_time: Some(to_timestamp(now)),
                end_time: Some(to_timestamp(now - TimeDelta::hours(1))),
                ..Default::default()
            },
            "end_time",
        ),
        (
            pb::ListPiiAccessRequest {
                page_size: -1,
                ..Default::default()
            },
            "page_size",
        ),
    ] {
        let err = auditor.list(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}");
        assert_eq!(error_reason(&err).1, [field]);
    }
    let unknown = TicketId::generate(now).name();
    let err = auditor
        .list(pb::ListPiiAccessRequest {
            ticket: unknown,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn rows_past_the_retention_are_purged_and_newer_ones_kept() {
    let database = TestBackend::from_env().fresh_store().await;
    let store = database.store();
    let app = spawn_app_on(database, |s| s.privacy.pii_access_retention_days = 30).await;
    app.add_regions(&["330106"]).await;
    let mut agent = app.agent();
    let name = agent.create(complaint()).await.name;
    let id = TicketId::from_name(&name).unwrap();
    let now = app.clock.now();
    for days in [31, 45] {
        store
            .record_pii_access(&PiiAccess {
                subject: "agent-old".into(),
                role: "agent".into(),
                rpc: "GetTicket",
                purpose: "ticket_view",
                tickets: vec![id],
                time: now - TimeDelta::days(days),
            })
            .await
            .unwrap();
    }
    agent.get(&name).await.unwrap();
    assert_eq!(store.count_pii_access(id).await.unwrap(), 3);
    // A server purges at start and hourly; this one started before the
    // old rows were written, so start another on the same database.
    let _second = spawn_app_with(store.clone(), None, |s| {
        s.privacy.pii_access_retention_days = 30
    })
    .await;
    let mut left = 3;
    for _ in 0..100 {
        left = store.count_pii_access(id).await.unwrap();
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(left, 1, "the two old rows go, today's view stays");
}
