//! Aggregation and rendering on known numbers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use chrono::{FixedOffset, NaiveDate, TimeZone, Utc};

use super::{
    charts::BAR_FILL,
    data::{
        ArticleRow, CounterBasis, Period, ReportData, UnitRow, Volume, centre_rates, day_start,
        flows_by_type, overdue_units, volumes_by,
    },
    figures::figures,
    labels, render_csv, render_html, render_md,
};
use crate::{
    domain::{
        UnitId,
        metrics::{Counter, RATES},
        ticket::{Channel, RequestType},
    },
    store::VolumeCell,
};

fn cell(
    request_type: RequestType,
    channel: Channel,
    subject: Option<&str>,
    district: &str,
    [received, accepted, answered_at_intake, replied_by_unit]: [i64; 4],
) -> VolumeCell {
    VolumeCell {
        request_type,
        channel,
        subject: subject.map(str::to_owned),
        district: district.to_owned(),
        received,
        accepted,
        answered_at_intake,
        replied_by_unit,
    }
}

fn unit(id: &str) -> UnitId {
    UnitId::parse(id).unwrap()
}

fn offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap()
}

/// October 2026: 7 complaints, 10 enquiries; transport 3 overdue rounds,
/// market regulation 1.
fn october() -> ReportData {
    let cells = vec![
        cell(
            RequestType::Complaint,
            Channel::Phone,
            Some("01"),
            "430102",
            [5, 4, 0, 3],
        ),
        cell(
            RequestType::Complaint,
            Channel::Web,
            Some("04"),
            "430103",
            [2, 2, 1, 0],
        ),
        cell(
            RequestType::Enquiry,
            Channel::Phone,
            None,
            "430102",
            [10, 10, 8, 2],
        ),
    ];
    let centre = vec![(Counter::Accepted, 16), (Counter::ResolvedAtIntake, 9)];
    let market = unit("market-regulation");
    let transport = unit("transport");
    let by_unit = vec![
        (market.clone(), Counter::DeadlineDue, 3),
        (market.clone(), Counter::RepliedOnTime, 2),
        (market.clone(), Counter::Overdue, 1),
        (market.clone(), Counter::Rated, 2),
        (market.clone(), Counter::Satisfied, 1),
        (market.clone(), Counter::BasicallySatisfied, 1),
        (market.clone(), Counter::Resolved, 1),
        (transport.clone(), Counter::DeadlineDue, 4),
        (transport.clone(), Counter::RepliedOnTime, 1),
        (transport.clone(), Counter::Overdue, 3),
        (unit("env-bureau"), Counter::Dispatched, 5),
    ];
    let names = |u: &UnitId| match u.as_str() {
        "transport" => "A市交通运输局",
        _ => "A市市场监督管理局",
    };
    let top_overdue = overdue_units(&by_unit, 10)
        .into_iter()
        .map(|(u, totals)| {
            let rate = |name: &str| {
                RATES
                    .iter()
                    .find(|r| r.name == name)
                    .unwrap()
                    .ratio(&totals)
            };
            UnitRow {
                name: names(&u).to_owned(),
                overdue: totals[&Counter::Overdue],
                on_time_completion: rate("on_time_completion"),
                satisfaction: rate("satisfaction"),
                resolution: rate("resolution"),
                unit: u,
            }
        })
        .collect();
    let (by_type, total) = flows_by_type(&cells);
    let volumes = |key: fn(&VolumeCell) -> String, label: fn(&str) -> String| {
        volumes_by(&cells, key)
            .into_iter()
            .map(|(key, received)| Volume {
                label: label(&key),
                key,
                received,
            })
            .collect::<Vec<_>>()
    };
    ReportData {
        period: Period::Month("2026-10".parse().unwrap()),
        generated: Utc.with_ymd_and_hms(2026, 11, 2, 1, 30, 0).unwrap(),
        offset: offset(),
        counters: CounterBasis::Live,
        by_type,
        total,
        by_channel: volumes(
            |c| c.channel.to_string(),
            |k| {
                labels::channel(crate::domain::text_enum::TextEnum::from_code(k).unwrap())
                    .to_owned()
            },
        ),
        by_subject: volumes(
            |c| c.subject.clone().unwrap_or_default(),
            |k| labels::subject((!k.is_empty()).then_some(k)),
        ),
        by_district: volumes(|c| c.district.clone(), |k| format!("区 {k}")),
        by_month: vec![Volume {
            key: "2026-10".into(),
            label: "2026-10".into(),
            received: 17,
        }],
        rates: centre_rates(&centre, &by_unit),
        top_overdue,
        top_articles: vec![ArticleRow {
            article: "0193a5c0-0000-7000-8000-000000000001".into(),
            title: "燃气泄漏报修电话".into(),
            uses: 7,
        }],
    }
}

#[test]
fn periods_start_at_local_midnight() {
    let day = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    assert_eq!(
        day_start(day, offset()),
        Utc.with_ymd_and_hms(2026, 9, 30, 16, 0, 0).unwrap()
    );
    let year = Period::year(2026).unwrap();
    assert_eq!(year.months().len(), 12);
    assert_eq!(
        year.first_day(),
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
    );
    assert_eq!(year.end(), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
    assert!(Period::year(1999).is_err() && Period::year(3000).is_err());
    let month = Period::Month("2026-10".parse().unwrap());
    assert_eq!(
        (month.first_day(), month.end()),
        (day, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap())
    );
    assert_eq!(month.slug(), "2026-10");
}

#[test]
fn aggregation_sums_cells_per_dimension_and_ranks_overdue_units() {
    let data = october();
    assert_eq!(data.by_type.len(), 7, "every request type is listed");
    assert_eq!(
        (
            data.total.received,
            data.total.accepted,
            data.total.answered_at_intake,
            data.total.replied_by_unit
        ),
        (17, 16, 9, 5)
    );
    let keys = |v: &[Volume]| {
        v.iter()
            .map(|v| (v.key.clone(), v.received))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&data.by_channel),
        [("phone".into(), 15), ("web".into(), 2)]
    );
    assert_eq!(
        keys(&data.by_subject),
        [("".into(), 10), ("01".into(), 5), ("04".into(), 2)],
        "most first"
    );
    assert_eq!(
        keys(&data.by_district),
        [("430102".into(), 15), ("430103".into(), 2)]
    );
    let ranked: Vec<(&str, i64)> = data
        .top_overdue
        .iter()
        .map(|u| (u.unit.as_str(), u.overdue))
        .collect();
    assert_eq!(
        ranked,
        [("transport", 3), ("market-regulation", 1)],
        "no overdue, no row"
    );
    let rate = |name: &str| data.rates.iter().find(|r| r.name == name).unwrap().ratio;
    assert_eq!(
        (
            rate("on_time_completion").numerator,
            rate("on_time_completion").denominator
        ),
        (3, 7),
        "summed over every unit"
    );
    assert_eq!(
        (
            rate("resolved_at_intake").numerator,
            rate("resolved_at_intake").denominator
        ),
        (9, 16)
    );
    assert!(data.rates.iter().all(|r| r.name != "reply_rate"));
}

#[test]
fn markdown_tables_hold_the_exact_counts() {
    let data = october();
    let md = render_md::render(&data, &figures(&data).unwrap());
    for line in [
        "# 12345 热线诉求办理情况报告：2026 年 10 月",
        "| 投诉 | 7 | 6 | 1 | 3 | 66.7% (4/6) |",
        "| 咨询 | 10 | 10 | 8 | 2 | 100.0% (10/10) |",
        "| 举报 | 0 | 0 | 0 | 0 | — (0/0) |",
        "| 合计 | 17 | 16 | 9 | 5 | 87.5% (14/16) |",
        "| 电话 | 15 | 88.2% |",
        "| 01 城乡建设 | 5 | 29.4% |",
        "| 未分类 | 10 | 58.8% |",
        "| 按时办结率 | 42.9% | 3 | 7 |",
        "| 满意率 | 100.0% | 2 | 2 |",
        "| 解决率 | 50.0% | 1 | 2 |",
        "| A市交通运输局 | 3 | 25.0% (1/4) | — (0/0) | — (0/0) |",
        "| A市市场监督管理局 | 1 | 66.7% (2/3) | 100.0% (2/2) | 50.0% (1/2) |",
        "![来件量（按诉求类型）](charts/by-type.svg)",
        "| 直办率 | 56.2% | 9 | 16 |",
        "| 燃气泄漏报修电话 | 7 |",
    ] {
        assert!(md.lines().any(|l| l == line), "missing {line:?} in\n{md}");
    }
    assert!(!md.contains("每月来件量"), "a month has no month chart");
}

#[test]
fn csv_rows_hold_the_exact_counts_with_codes() {
    let data = october();
    let csv = render_csv::render(&data);
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "section",
            "key",
            "label",
            "measure",
            "count",
            "denominator",
            "rate_percent"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    for expected in [
        "request_type,complaint,投诉,received,7,,",
        "request_type,complaint,投诉,reply_rate,4,6,66.7",
        "request_type,total,合计,accepted,16,,",
        "request_type,report,举报,reply_rate,0,0,",
        "channel,web,网站,received,2,,",
        "subject,,未分类,received,10,,",
        "district,430103,区 430103,received,2,,",
        "month,2026-10,2026-10,received,17,,",
        "cited_article,0193a5c0-0000-7000-8000-000000000001,燃气泄漏报修电话,uses,7,,",
        "rate,on_time_completion,按时办结率,on_time_completion,3,7,42.9",
        "overdue_unit,transport,A市交通运输局,overdue,3,,",
        "overdue_unit,market-regulation,A市市场监督管理局,satisfaction,2,2,100.0",
    ] {
        let expected: Vec<&str> = expected.split(',').collect();
        assert!(rows.iter().any(|r| r == &expected), "missing {expected:?}");
    }
    assert_eq!(
        rows.iter().filter(|r| r[0] == "request_type").count(),
        8 * 5,
        "seven types and the total, five measures each"
    );
}

fn bars(svg: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    doc.descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(BAR_FILL))
        .count()
}

#[test]
fn charts_have_one_bar_per_row_and_html_inlines_them() {
    let data = october();
    let figures = figures(&data).unwrap();
    let count = |slug: &str| bars(&figures.iter().find(|f| f.slug == slug).unwrap().svg);
    assert_eq!(count("by-type"), 7);
    assert_eq!(
        count("reply-rate"),
        2,
        "types with nothing accepted have no rate"
    );
    assert_eq!(count("by-channel"), 2);
    assert_eq!(count("by-subject"), 3);
    assert_eq!(count("by-district"), 2);
    assert_eq!(
        count("rates"),
        data.rates
            .iter()
            .filter(|r| r.ratio.denominator > 0)
            .count()
    );
    assert_eq!(count("top-overdue"), 2);
    let html = render_html::render(&data, &figures);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), figures.len());
    assert!(
        html.contains("<td>合计</td><td class=\"n\">17</td>"),
        "{html}"
    );
    assert!(!html.contains("<script") && !html.contains("http://www.w3.org/1999/xhtml\""));
    assert!(
        html.contains("<td>燃气泄漏报修电话</td><td class=\"n\">7</td>"),
        "{html}"
    );

    let annual = ReportData {
        period: Period::Year(2026),
        ..data
    };
    let figures = super::figures::figures(&annual).unwrap();
    assert!(
        figures.iter().any(|f| f.slug == "by-month"),
        "a year has a month chart"
    );
}
