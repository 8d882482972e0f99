//! The article workflow, its permissions and content checks.

use chrono::{NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

fn principal(roles: &[Role], unit: Option<&str>) -> Principal {
    Principal {
        subject: "user-1".into(),
        roles: roles.to_vec(),
        unit: unit.map(|u| UnitId::parse(u).unwrap()),
        region: None,
    }
}

fn content(title: &str) -> ArticleContent {
    ArticleContent {
        title: title.into(),
        body: "办理居住证需携带身份证。".into(),
        subjects: vec!["01.02".into()],
        regions: vec!["330106".into()],
        tags: vec!["居住证".into()],
        effective_from: NaiveDate::from_ymd_opt(2026, 1, 1),
        expires_on: NaiveDate::from_ymd_opt(2026, 12, 31),
    }
}

fn article(state: ArticleState, published_version: Option<i64>) -> Article {
    let now = Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap();
    let id = ArticleId::generate(now);
    Article {
        id,
        owner_unit: UnitId::parse("water-works").unwrap(),
        state,
        latest: ArticleVersion {
            article: id,
            version: 2,
            content: content("如何办理居住证"),
            author: "user-1".into(),
            create_time: now,
        },
        published_version,
        reject_reason: None,
        creator: "user-1".into(),
        create_time: now,
        update_time: now,
        change_seq: 7,
    }
}

fn unit_user() -> Principal {
    principal(&[Role::UnitHandler], Some("water-works"))
}

fn centre() -> Principal {
    principal(&[Role::Supervisor], None)
}

#[test]
fn a_draft_goes_through_review_to_publication_and_retirement() {
    let draft = article(ArticleState::Draft, None);
    let submitted = draft.decide(&unit_user(), ArticleAction::Submit).unwrap();
    assert_eq!(submitted.state, ArticleState::InReview);
    assert_eq!(submitted.event, ArticleEventKind::Submitted);
    let in_review = article(ArticleState::InReview, None);
    let approved = in_review.decide(&centre(), ArticleAction::Approve).unwrap();
    assert_eq!(approved.state, ArticleState::Published);
    assert_eq!(approved.published_version, Some(2));
    let published = article(ArticleState::Published, Some(2));
    assert!(published.is_served());
    let retired = published.decide(&centre(), ArticleAction::Retire).unwrap();
    assert_eq!(retired.state, ArticleState::Retired);
    assert_eq!(retired.published_version, None);
}

#[test]
fn a_rejection_returns_to_draft_with_its_reason_and_a_resubmission_clears_it() {
    let in_review = article(ArticleState::InReview, None);
    let reject = ArticleAction::Reject {
        reason: "  请注明办理地点 ".into(),
    };
    let outcome = in_review.decide(&centre(), reject).unwrap();
    assert_eq!(outcome.state, ArticleState::Draft);
    assert_eq!(outcome.reject_reason.as_deref(), Some("请注明办理地点"));
    assert_eq!(outcome.note.as_deref(), Some("请注明办理地点"));
    let mut rejected = article(ArticleState::Draft, None);
    rejected.reject_reason = outcome.reject_reason;
    let again = rejected
        .decide(&unit_user(), ArticleAction::Submit)
        .unwrap();
    assert_eq!(again.reject_reason, None);
    let blank = in_review.decide(&centre(), ArticleAction::Reject { reason: " ".into() });
    assert!(matches!(blank, Err(DomainError::InvalidField { field, .. }) if field == "reason"));
}

#[test]
fn revising_a_published_article_keeps_the_published_version_served() {
    let published = article(ArticleState::Published, Some(2));
    let outcome = published
        .decide(
            &unit_user(),
            ArticleAction::Update(content("如何办理居住证（修订）")),
        )
        .unwrap();
    assert_eq!(outcome.state, ArticleState::Draft);
    assert_eq!(outcome.published_version, Some(2));
    assert_eq!(outcome.new_content.unwrap().title, "如何办理居住证（修订）");
    let mut revising = article(ArticleState::Draft, Some(2));
    assert!(revising.is_served());
    revising.state = ArticleState::Retired;
    assert!(!revising.is_served());
}

#[test]
fn illegal_moves_are_failed_preconditions() {
    let cases = [
        (ArticleState::Draft, ArticleAction::Approve),
        (ArticleState::Published, ArticleAction::Submit),
        (ArticleState::InReview, ArticleAction::Update(content("t"))),
        (ArticleState::Retired, ArticleAction::Retire),
        (ArticleState::Retired, ArticleAction::Update(content("t"))),
        (
            ArticleState::Published,
            ArticleAction::Reject { reason: "x".into() },
        ),
    ];
    for (state, action) in cases {
        let err = article(state, None).transition(action.clone()).unwrap_err();
        assert!(
            matches!(
                err,
                DomainError::PreconditionFailed {
                    kind: "ARTICLE_STATE",
                    ..
                }
            ),
            "{state} {action:?}: {err:?}"
        );
    }
}

#[test]
fn a_unit_cannot_publish_and_edits_only_its_own_articles() {
    let in_review = article(ArticleState::InReview, None);
    for action in [ArticleAction::Approve, ArticleAction::Retire] {
        let err = in_review.decide(&unit_user(), action).unwrap_err();
        assert!(matches!(err, DomainError::PermissionDenied(_)), "{err:?}");
    }
    let other = principal(&[Role::UnitHandler], Some("power-grid"));
    let draft = article(ArticleState::Draft, None);
    assert!(matches!(
        draft.decide(&other, ArticleAction::Submit),
        Err(DomainError::PermissionDenied(_))
    ));
    assert!(check_create(&other, &draft.owner_unit).is_err());
    assert!(check_create(&unit_user(), &draft.owner_unit).is_ok());
    let admin = principal(&[Role::Admin], None);
    assert!(check_create(&admin, &draft.owner_unit).is_ok());
}

#[test]
fn an_agent_reads_but_cannot_edit_or_review() {
    let agent = principal(&[Role::Agent], None);
    assert!(agent.authorize(Operation::ReadArticles).is_ok());
    let draft = article(ArticleState::Draft, None);
    assert!(draft.check_editor(&agent).is_err());
    let in_review = article(ArticleState::InReview, None);
    assert!(in_review.decide(&agent, ArticleAction::Approve).is_err());
    assert!(check_create(&agent, &draft.owner_unit).is_err());
}

#[test]
fn content_is_normalised_and_checked_with_field_paths() {
    let mut c = content("  标题  ");
    c.tags = vec![" 居住证 ".into(), "居住证".into(), String::new()];
    let ok = c.validated().unwrap();
    assert_eq!(ok.title, "标题");
    assert_eq!(ok.tags, vec!["居住证".to_owned()]);

    let field_of = |c: ArticleContent| match c.validated() {
        Err(DomainError::InvalidField { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field_of(content(" ")), "title");
    assert_eq!(
        field_of(content(&"长".repeat(MAX_TITLE_CHARS + 1))),
        "title"
    );
    let mut c = content("t");
    c.subjects = vec!["1.2".into()];
    assert_eq!(field_of(c), "subject_codes");
    let mut c = content("t");
    c.regions = vec!["33x".into()];
    assert_eq!(field_of(c), "region_codes");
    let mut c = content("t");
    c.expires_on = NaiveDate::from_ymd_opt(2025, 1, 1);
    assert_eq!(field_of(c), "expire_date");
    let mut c = content("t");
    c.tags = (0..=MAX_LABELS).map(|i| i.to_string()).collect();
    assert_eq!(field_of(c), "tags");
    let mut c = content("t");
    c.tags = vec!["居住\0证".into()];
    assert_eq!(field_of(c), "tags");
}

#[test]
fn ids_round_trip_through_names() {
    let id = ArticleId::generate(Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap());
    assert_eq!(ArticleId::from_name(&id.name()).unwrap(), id);
    assert!(ArticleId::from_name("tickets/x").is_err());
    assert!(ArticleId::parse("nope").is_err());
}

fn any_action() -> impl Strategy<Value = ArticleAction> {
    prop_oneof![
        Just(ArticleAction::Update(content("修订"))),
        Just(ArticleAction::Submit),
        Just(ArticleAction::Approve),
        Just(ArticleAction::Reject {
            reason: "补充".into()
        }),
        Just(ArticleAction::Retire),
    ]
}

proptest! {
    /// No sequence of actions serves a version that was never approved,
    /// serves anything after retirement, or leaves retirement.
    #[test]
    fn no_sequence_serves_an_unapproved_or_retired_version(
        actions in proptest::collection::vec(any_action(), 0..30)
    ) {
        let mut a = article(ArticleState::Draft, None);
        a.latest.version = 1;
        let mut approved: Vec<i64> = Vec::new();
        for action in actions {
            let was_retired = a.state == ArticleState::Retired;
            if let Ok(outcome) = a.transition(action) {
                prop_assert!(!was_retired);
                if outcome.new_content.is_some() {
                    a.latest.version += 1;
                }
                if outcome.event == ArticleEventKind::Approved {
                    approved.push(a.latest.version);
                }
                a.state = outcome.state;
                a.published_version = outcome.published_version;
                a.reject_reason = outcome.reject_reason;
            }
            if let Some(v) = a.published_version {
                prop_assert!(approved.contains(&v));
                prop_assert!(v <= a.latest.version);
            }
            if a.state == ArticleState::Published {
                prop_assert_eq!(a.published_version, Some(a.latest.version));
            }
            if a.state == ArticleState::Retired {
                prop_assert!(!a.is_served());
            }
        }
    }
}
