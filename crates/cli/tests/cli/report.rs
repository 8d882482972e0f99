//! `hotline report`: the disclosure report from a seeded month.

use hotline::domain::{Principal, Role};

use super::*;

/// A caller whose name and phone must never reach a report.
const CALLER_NAME: &str = "王小明";
const CALLER_PHONE: &str = "13912345678";
const ADDRESS: &str = "幸福路 8 号";
const TITLE: &str = "夜间施工噪音扰民";

/// Title of the knowledge-base article the answer at intake cites.
const ARTICLE_TITLE: &str = "夜间施工噪音投诉处理指引";

/// Three complaints from one caller in October 2026 (Beijing), stored with
/// their counters as the API would: one answered at intake citing a
/// knowledge-base article, one replied by market regulation and rated
/// satisfied, one waiting for dispatch.
pub(crate) async fn seed_october(url: &str) {
    seed_october_with(url, hotline::store::testing::test_pii_codec()).await;
}

/// [`seed_october`] sealing the callers with the given keys.
pub(crate) async fn seed_october_with(url: &str, pii: hotline::store::PiiCodec) {
    use chrono::{FixedOffset, TimeDelta, TimeZone, Utc};
    use hotline::{
        domain::{
            Action, Caller, RegionCode, SubjectCode, Ticket, UnitId,
            metrics::deltas,
            ticket::{Channel, Intake, RequestType, Satisfaction, Urgency},
        },
        store::NewTicket,
    };
    let store = hotline::store::open_with_pii(url, 1, true, pii)
        .await
        .unwrap();
    let offset = FixedOffset::east_opt(8 * 3600).unwrap();
    let agent = Principal {
        subject: "agent-1".into(),
        roles: vec![Role::Agent],
        unit: None,
        region: None,
    };
    let market = UnitId::parse("market-regulation").unwrap();
    let handler = Principal {
        subject: "handler-1".into(),
        roles: vec![Role::UnitHandler],
        unit: Some(market.clone()),
        region: None,
    };
    let start = Utc.with_ymd_and_hms(2026, 10, 12, 2, 0, 0).unwrap();
    let article = store
        .create_article(&noise_article(market.clone(), start), None)
        .await
        .unwrap();
    for i in 0..3 {
        let now = start + TimeDelta::hours(i);
        let intake = Intake {
            channel: Channel::Phone,
            legacy_hotline: None,
            caller: Caller::parse(CALLER_NAME, CALLER_PHONE, false).unwrap(),
            confidential: false,
            request_type: RequestType::Complaint,
            urgency: Urgency::Normal,
            subject_code: Some(SubjectCode::parse("01.02").unwrap()),
            region_code: RegionCode::parse("430102001").unwrap(),
            address: ADDRESS.into(),
            title: TITLE.into(),
            description: format!("{CALLER_NAME} 反映：{TITLE}，电话 {CALLER_PHONE}"),
        };
        let created = Ticket::accept(intake, String::new(), &agent, now);
        let counters = deltas(None, &created, offset);
        let mut ticket = store
            .create_ticket(
                NewTicket {
                    created,
                    followups: Vec::new(),
                    counters,
                    local_day: (now + TimeDelta::hours(8)).date_naive(),
                },
                None,
            )
            .await
            .unwrap();
        let steps: Vec<(Action, &Principal)> = match i {
            0 => vec![(
                Action::ResolveAtIntake {
                    answer: "已告知".into(),
                    article_ids: vec![article.id.to_string()],
                },
                &agent,
            )],
            1 => vec![
                (Action::dispatch(market.clone(), ""), &agent),
                (Action::Sign, &handler),
                (
                    Action::Reply {
                        text: "已责令整改".into(),
                        contacted_citizen: true,
                        after: Default::default(),
                    },
                    &handler,
                ),
                (
                    Action::RecordCallback {
                        satisfaction: Satisfaction::Satisfied,
                        resolved: true,
                        comment: String::new(),
                    },
                    &agent,
                ),
            ],
            _ => vec![],
        };
        for (n, (action, actor)) in steps.into_iter().enumerate() {
            let at = now + TimeDelta::minutes(10 * (n as i64 + 1));
            let transition = ticket.apply(action, actor, at).unwrap();
            let counters = deltas(Some(&ticket), &transition, offset);
            store
                .apply_transitions(
                    ticket.version,
                    std::slice::from_ref(&transition),
                    &counters,
                    None,
                )
                .await
                .unwrap();
            ticket = transition.ticket;
        }
    }
}

/// The article the seed's answer at intake cites, as a unit drafts it (the
/// report reads its title; publishing it is the service's business).
fn noise_article(
    owner: hotline::domain::UnitId,
    at: chrono::DateTime<chrono::Utc>,
) -> hotline::store::NewArticle {
    use hotline::domain::knowledge::{Article, ArticleContent, ArticleEventKind, ArticleId};
    let content = ArticleContent {
        title: ARTICLE_TITLE.into(),
        body: "夜间 22 时至次日 6 时禁止产生噪声的建筑施工作业。".into(),
        subjects: vec!["01.02".into()],
        regions: vec![],
        tags: vec![],
        effective_from: None,
        expires_on: None,
    };
    hotline::store::NewArticle {
        article: Article::drafted(ArticleId::generate(at), owner, content, "handler-1", at),
        event: ArticleEventKind::Created,
        actor_role: "unit_handler".into(),
    }
}

#[test]
fn report_monthly_writes_all_formats_with_charts_and_no_caller_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let seeded = hotline(dir.path())
        .args(["demo", "seed", "--database-url", &url])
        .output()
        .unwrap();
    assert!(seeded.status.success());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(seed_october(&url));

    let out = hotline(dir.path())
        .args([
            "report",
            "monthly",
            "--month",
            "2026-10",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.path().join("report-2026-10");
    let read = |name: &str| std::fs::read_to_string(report.join(name)).unwrap();
    let md = read("report-2026-10.md");
    let csv = read("report-2026-10.csv");
    let html = read("report-2026-10.html");
    assert!(
        md.lines()
            .any(|l| l == "| 投诉 | 3 | 3 | 1 | 1 | 66.7% (2/3) |"),
        "{md}"
    );
    assert!(md.contains("| 01 城乡建设 | 3 | 100.0% |"), "{md}");
    assert!(md.contains("| A1区 (430102) | 3 | 100.0% |"), "{md}");
    assert!(md.contains("| 满意率 | 100.0% | 1 | 1 |"), "{md}");
    // One of the three accepted complaints answered at intake, citing one
    // article once.
    assert!(md.contains("| 直办率 | 33.3% | 1 | 3 |"), "{md}");
    let cited = md
        .split("## 七、直接答复引用最多的知识库文章")
        .nth(1)
        .unwrap();
    assert!(
        cited.contains(&format!("| {ARTICLE_TITLE} | 1 |")),
        "{cited}"
    );
    assert!(
        csv.contains("request_type,complaint,投诉,reply_rate,2,3,66.7\r\n"),
        "{csv}"
    );
    assert!(html.contains("<svg") && html.contains("</html>"));
    assert!(report.join("charts/by-type.svg").exists());
    for (name, text) in [("md", &md), ("csv", &csv), ("html", &html)] {
        for secret in [
            CALLER_NAME,
            CALLER_PHONE,
            "1234567",
            ADDRESS,
            TITLE,
            "幸福路",
        ] {
            assert!(
                !text.contains(secret),
                "{secret:?} leaked into the {name} report"
            );
        }
    }
    for chart in std::fs::read_dir(report.join("charts")).unwrap() {
        let svg = std::fs::read_to_string(chart.unwrap().path()).unwrap();
        assert!(!svg.contains(CALLER_NAME) && !svg.contains(CALLER_PHONE));
    }

    let single = dir.path().join("annual.html");
    let out = hotline(dir.path())
        .args([
            "report",
            "annual",
            "--year",
            "2026",
            "--format",
            "html",
            "--out",
            single.to_str().unwrap(),
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let annual = std::fs::read_to_string(&single).unwrap();
    assert!(annual.contains("2026 年度") && annual.contains("每月来件量"));

    let bad = hotline(dir.path())
        .args([
            "report",
            "monthly",
            "--month",
            "2026-13",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success(), "an invalid month is refused");
}
