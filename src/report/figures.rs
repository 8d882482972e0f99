//! Which charts a report has: one per section, drawn from [`ReportData`],
//! shared by the HTML (inline) and Markdown (linked files) renderings.

use super::{
    charts::{Bar, ChartError, Scale, bar_chart, line_chart},
    data::{Period, ReportData, Volume},
    labels,
};

/// One drawn chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// File stem, e.g. `by-type` (Markdown links `charts/by-type.svg`).
    pub slug: &'static str,
    /// Caption.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

fn counts(volumes: &[Volume]) -> Vec<Bar> {
    volumes
        .iter()
        .map(|v| Bar {
            label: v.label.clone(),
            value: Some(v.received as f64),
        })
        .collect()
}

fn percent(ratio: crate::domain::metrics::Ratio) -> Option<f64> {
    ratio.value().map(|v| v * 100.0)
}

/// Every chart of the report, in section order.
pub fn figures(data: &ReportData) -> Result<Vec<Figure>, ChartError> {
    let mut out = Vec::new();
    let mut add = |slug: &'static str, title: &str, svg: String| {
        out.push(Figure {
            slug,
            title: title.to_owned(),
            svg,
        });
    };
    let by_type: Vec<Bar> = data
        .by_type
        .iter()
        .map(|(t, flow)| Bar {
            label: labels::request_type(*t).to_owned(),
            value: Some(flow.received as f64),
        })
        .collect();
    let title = "来件量（按诉求类型）";
    add("by-type", title, bar_chart(title, &by_type, Scale::Count)?);
    let reply: Vec<Bar> = data
        .by_type
        .iter()
        .map(|(t, flow)| Bar {
            label: labels::request_type(*t).to_owned(),
            value: percent(flow.reply_rate()),
        })
        .collect();
    let title = "办复率（按诉求类型）";
    add(
        "reply-rate",
        title,
        bar_chart(title, &reply, Scale::Percent)?,
    );
    let title = "来件量（按受理渠道）";
    add(
        "by-channel",
        title,
        bar_chart(title, &counts(&data.by_channel), Scale::Count)?,
    );
    let title = "来件量（按一级诉求分类）";
    add(
        "by-subject",
        title,
        bar_chart(title, &counts(&data.by_subject), Scale::Count)?,
    );
    let title = "来件量（按区县）";
    add(
        "by-district",
        title,
        bar_chart(title, &counts(&data.by_district), Scale::Count)?,
    );
    if let Period::Year(_) = data.period {
        let points: Vec<(String, i64)> = data
            .by_month
            .iter()
            .map(|v| (v.label.clone(), v.received))
            .collect();
        let title = "每月来件量";
        add("by-month", title, line_chart(title, &points)?);
    }
    let rates: Vec<Bar> = data
        .rates
        .iter()
        .map(|r| Bar {
            label: labels::rate(r.name).to_owned(),
            value: percent(r.ratio),
        })
        .collect();
    let title = "办理绩效（全市）";
    add("rates", title, bar_chart(title, &rates, Scale::Percent)?);
    let overdue: Vec<Bar> = data
        .top_overdue
        .iter()
        .map(|u| Bar {
            label: u.name.clone(),
            value: Some(u.overdue as f64),
        })
        .collect();
    let title = "超期件数较多的承办单位";
    add(
        "top-overdue",
        title,
        bar_chart(title, &overdue, Scale::Count)?,
    );
    Ok(out)
}
