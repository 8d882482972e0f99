//! Deadlines at dispatch on the working-day calendar, extensions, and
//! loading a new year's calendar.

use chrono::{DateTime, TimeZone, Utc};
use hotline::proto::v1 as pb;
use tonic::Code;

use crate::{
    helpers::{As, TestApp, authed, complaint, error_reason, spawn_app},
    routing::seed_city,
};

pub(crate) fn beijing(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

/// Creates a ticket that waits for a person, and dispatches it.
pub(crate) async fn dispatched(app: &TestApp, edit: impl FnOnce(&mut pb::Ticket)) -> pb::Ticket {
    let mut agent = app.agent();
    let mut t = complaint();
    t.region_code = "330100".into();
    edit(&mut t);
    let created = agent.create(t).await;
    agent
        .dispatch_to(&created.name, "market-regulation")
        .await
        .unwrap()
}

impl As {
    async fn ask_extension(&mut self, name: &str, days: i32) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .request_extension(authed(
                &self.token,
                pb::RequestExtensionRequest {
                    name: name.into(),
                    days,
                    reason: "需现场检测，结果出具需时".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    async fn decide_extension(
        &mut self,
        name: &str,
        approve: bool,
        days: i32,
    ) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .decide_extension(authed(
                &self.token,
                pb::DecideExtensionRequest {
                    name: name.into(),
                    approve,
                    days,
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }
}

fn at(d: &Option<pb::Deadline>) -> i64 {
    d.as_ref().unwrap().time.unwrap().seconds
}

#[tokio::test]
async fn a_complaint_dispatched_before_mid_autumn_and_national_day_gets_15_working_days() {
    let app = spawn_app().await;
    seed_city(&app).await;
    app.clock.set(beijing(2026, 9, 24, 10, 0));
    let t = dispatched(&app, |_| {}).await;
    // Off 09-25..27 and 10-01..07; 10-10 (Saturday) is a make-up working day.
    assert_eq!(
        at(&t.reply_deadline),
        beijing(2026, 10, 22, 17, 30).timestamp()
    );
    assert_eq!(
        at(&t.sign_deadline),
        beijing(2026, 9, 28, 17, 30).timestamp(),
        "1 WD to sign"
    );
    let reply = t.reply_deadline.unwrap();
    assert!(!reply.provisional);
    assert_eq!(reply.calendar_version, 1);
    let events = app.agent().events(&t.name).await;
    let payload = format!("{:?}", events[1].payload);
    assert!(payload.contains("reply_deadline"), "{payload}");
}

#[tokio::test]
async fn urgent_tickets_run_on_natural_time() {
    let app = spawn_app().await;
    seed_city(&app).await;
    app.clock.set(beijing(2026, 11, 22, 22, 30));
    let t = dispatched(&app, |t| t.urgency = pb::Urgency::Urgent as i32).await;
    assert_eq!(
        at(&t.reply_deadline),
        beijing(2026, 11, 23, 0, 30).timestamp(),
        "2 h on a Sunday night"
    );
    assert_eq!(
        at(&t.sign_deadline),
        beijing(2026, 11, 22, 22, 45).timestamp(),
        "15 min to sign"
    );
}

#[tokio::test]
async fn extensions_are_asked_before_the_deadline_approved_within_the_cap_once() {
    let app = spawn_app().await;
    seed_city(&app).await;
    app.clock.set(beijing(2026, 11, 2, 10, 0));
    let t = dispatched(&app, |t| t.request_type = pb::RequestType::Enquiry as i32).await;
    assert_eq!(
        at(&t.reply_deadline),
        beijing(2026, 11, 5, 17, 30).timestamp(),
        "3 WD"
    );
    let mut unit = app.unit_user("market-regulation");
    let mut agent = app.agent();

    let err = unit.ask_extension(&t.name, 11).await.unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["days".to_owned()])
    );
    let asked = unit.ask_extension(&t.name, 5).await.unwrap();
    assert_eq!(asked.pending_extension.unwrap().days, 5);
    let err = unit.ask_extension(&t.name, 2).await.unwrap_err();
    assert_eq!(error_reason(&err).0, "EXTENSION_PENDING");
    let err = unit.decide_extension(&t.name, true, 0).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "units do not decide");

    let granted = agent.decide_extension(&t.name, true, 3).await.unwrap();
    assert_eq!(
        at(&granted.reply_deadline),
        beijing(2026, 11, 10, 17, 30).timestamp(),
        "+3 WD"
    );
    assert_eq!(granted.extensions_granted, 1);
    assert!(granted.pending_extension.is_none());
    let err = unit.ask_extension(&t.name, 1).await.unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).0.as_str()),
        (Code::FailedPrecondition, "EXTENSION_LIMIT")
    );

    let other = dispatched(&app, |t| t.request_type = pb::RequestType::Enquiry as i32).await;
    unit.ask_extension(&other.name, 2).await.unwrap();
    let refused = agent.decide_extension(&other.name, false, 0).await.unwrap();
    assert_eq!(
        refused.reply_deadline, other.reply_deadline,
        "refusal keeps the deadline"
    );
    let err = agent
        .decide_extension(&other.name, false, 0)
        .await
        .unwrap_err();
    assert_eq!(error_reason(&err).0, "NO_EXTENSION_PENDING");

    app.clock.set(beijing(2026, 11, 5, 17, 31));
    let err = unit.ask_extension(&other.name, 2).await.unwrap_err();
    assert_eq!(error_reason(&err).0, "EXTENSION_TOO_LATE");
    let kinds: Vec<String> = agent
        .events(&t.name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "dispatched",
            "extension_requested",
            "extension_approved"
        ]
    );
}

#[tokio::test]
async fn a_new_years_calendar_changes_new_deadlines_only() {
    let app = spawn_app().await;
    seed_city(&app).await;
    app.clock.set(beijing(2026, 12, 21, 10, 0));
    let before = dispatched(&app, |_| {}).await;
    let reply = before.reply_deadline.unwrap();
    assert!(reply.provisional, "January 2027 has no schedule yet");
    assert_eq!(reply.calendar_version, 1);

    let mut admin = app.admin();
    let info = admin
        .calendar
        .get_calendar(authed(&admin.token, pb::GetCalendarRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (info.version, info.loaded_years.clone()),
        (1, vec![2024, 2025, 2026])
    );
    let toml =
        "[[year]]\nyear = 2027\ndays_off = [[\"2027-01-01\", \"2027-01-03\"]]\nmakeup_days = []\n";
    let imported = admin
        .calendar
        .import_calendar(authed(
            &admin.token,
            pb::ImportCalendarRequest {
                toml: toml.into(),
                note: "国务院办公厅 2027 年节假日安排".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.version, 2);
    assert!(imported.loaded_years.contains(&2027));

    let after = dispatched(&app, |_| {}).await;
    let reply_after = after.reply_deadline.unwrap();
    assert!(!reply_after.provisional);
    assert_eq!(reply_after.calendar_version, 2);
    assert_ne!(reply_after.time, reply.time, "2027-01-01 is now a day off");
    let unchanged = admin
        .get(&before.name)
        .await
        .unwrap()
        .reply_deadline
        .unwrap();
    assert_eq!(
        unchanged, reply,
        "deadlines already computed keep their version"
    );

    let computed = admin
        .calendar
        .compute_deadline(authed(
            &admin.token,
            pb::ComputeDeadlineRequest {
                start_time: Some(ts(beijing(2026, 9, 24, 10, 0))),
                limit: "15wd".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .deadline
        .unwrap();
    assert_eq!(
        computed.time.unwrap().seconds,
        beijing(2026, 10, 22, 17, 30).timestamp()
    );
    let bad = admin
        .calendar
        .import_calendar(authed(
            &admin.token,
            pb::ImportCalendarRequest {
                toml: "[[year]]\nyear = 2028\ndays_off = [[\"2028-02-10\", \"2028-02-01\"]]\n"
                    .into(),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (bad.code(), error_reason(&bad).1),
        (Code::InvalidArgument, vec!["toml".to_owned()])
    );
    let mut agent = app.agent();
    let err = agent
        .calendar
        .import_calendar(authed(
            &agent.token,
            pb::ImportCalendarRequest {
                toml: toml.into(),
                note: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn the_time_limit_policy_is_changed_over_the_api_for_new_dispatches() {
    let app = spawn_app().await;
    seed_city(&app).await;
    app.clock.set(beijing(2026, 11, 2, 10, 0));
    let before = dispatched(&app, |_| {}).await;
    assert_eq!(
        at(&before.reply_deadline),
        beijing(2026, 11, 23, 17, 30).timestamp(),
        "15 WD"
    );
    let mut admin = app.admin();
    let current = admin
        .calendar
        .get_time_limit_policy(authed(&admin.token, pb::GetTimeLimitPolicyRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.version, 0, "from the configuration");
    assert!(current.toml.contains("15wd"), "{}", current.toml);
    let updated = admin
        .calendar
        .update_time_limit_policy(authed(
            &admin.token,
            pb::UpdateTimeLimitPolicyRequest {
                toml: "[complaint]\nsign = \"1wd\"\nreply = \"10wd\"\n".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 1);
    let after = dispatched(&app, |_| {}).await;
    assert_eq!(
        at(&after.reply_deadline),
        beijing(2026, 11, 16, 17, 30).timestamp(),
        "Guangdong-style 10 WD"
    );
    assert_eq!(
        admin.get(&before.name).await.unwrap().reply_deadline,
        before.reply_deadline,
        "tickets already dispatched keep their deadlines"
    );
    let bad = admin
        .calendar
        .update_time_limit_policy(authed(
            &admin.token,
            pb::UpdateTimeLimitPolicyRequest {
                toml: "[complaint]\nsign = \"1wd\"\nreply = \"fortnight\"\n".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (bad.code(), error_reason(&bad).1),
        (Code::InvalidArgument, vec!["toml".to_owned()])
    );
}
