//! The Markdown rendering: tables of exact counts, with links to the chart
//! files written beside it (`charts/<slug>.svg`).

use std::fmt::Write;

use super::{
    data::{Period, ReportData, Volume},
    figures::Figure,
    labels, notes, percent, ratio_text, title,
};

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn volume_table(out: &mut String, head: &str, volumes: &[Volume], total: i64) {
    let _ = writeln!(out, "| {head} | 来件 | 占比 |\n|---|---:|---:|");
    for v in volumes {
        let share = crate::domain::metrics::Ratio::new(v.received, total);
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(&v.label),
            v.received,
            percent(share)
        );
    }
    if volumes.is_empty() {
        let _ = writeln!(out, "| （无） | 0 | — |");
    }
    out.push('\n');
}

fn figure(out: &mut String, figures: &[Figure], slug: &str) {
    if let Some(f) = figures.iter().find(|f| f.slug == slug) {
        let _ = writeln!(out, "![{}](charts/{}.svg)\n", cell(&f.title), f.slug);
    }
}

/// The report as Markdown; `figures` are the charts written to `charts/`
/// beside the file (pass none to leave the links out).
pub fn render(data: &ReportData, figures: &[Figure]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", title(data));
    for note in notes(data).iter().take(1) {
        let _ = writeln!(out, "{note}\n");
    }

    let _ = writeln!(out, "## 一、来件与办复（按诉求类型）\n");
    let _ = writeln!(
        out,
        "| 诉求类型 | 来件 | 受理 | 直接答复 | 单位答复 | 办复率 |\n|---|---:|---:|---:|---:|---:|"
    );
    let rows = data
        .by_type
        .iter()
        .map(|(t, flow)| (labels::request_type(*t), flow))
        .chain(std::iter::once(("合计", &data.total)));
    for (name, f) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            f.received,
            f.accepted,
            f.answered_at_intake,
            f.replied_by_unit,
            ratio_text(f.reply_rate())
        );
    }
    out.push('\n');
    figure(&mut out, figures, "by-type");
    figure(&mut out, figures, "reply-rate");

    let total = data.total.received;
    let _ = writeln!(out, "## 二、受理渠道\n");
    volume_table(&mut out, "渠道", &data.by_channel, total);
    figure(&mut out, figures, "by-channel");
    let _ = writeln!(out, "## 三、诉求分类（一级）\n");
    volume_table(&mut out, "分类", &data.by_subject, total);
    figure(&mut out, figures, "by-subject");
    let _ = writeln!(out, "## 四、区域分布（区县）\n");
    volume_table(&mut out, "区县", &data.by_district, total);
    figure(&mut out, figures, "by-district");
    if let Period::Year(_) = data.period {
        let _ = writeln!(out, "## 每月来件量\n");
        volume_table(&mut out, "月份", &data.by_month, total);
        figure(&mut out, figures, "by-month");
    }

    let _ = writeln!(out, "## 五、办理绩效（全市承办单位）\n");
    let _ = writeln!(out, "| 指标 | 比率 | 分子 | 分母 |\n|---|---:|---:|---:|");
    for r in &data.rates {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            labels::rate(r.name),
            percent(r.ratio),
            r.ratio.numerator,
            r.ratio.denominator
        );
    }
    out.push('\n');
    figure(&mut out, figures, "rates");

    let _ = writeln!(out, "## 六、超期件数较多的承办单位\n");
    if data.top_overdue.is_empty() {
        let _ = writeln!(out, "本期无超期。\n");
    } else {
        let _ = writeln!(
            out,
            "| 承办单位 | 超期 | 按时办结率 | 满意率 | 解决率 |\n|---|---:|---:|---:|---:|"
        );
        for u in &data.top_overdue {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                cell(&u.name),
                u.overdue,
                ratio_text(u.on_time_completion),
                ratio_text(u.satisfaction),
                ratio_text(u.resolution)
            );
        }
        out.push('\n');
        figure(&mut out, figures, "top-overdue");
    }

    let _ = writeln!(out, "## 七、直接答复引用最多的知识库文章\n");
    if data.top_articles.is_empty() {
        let _ = writeln!(out, "本期直接答复未引用知识库文章。\n");
    } else {
        let _ = writeln!(out, "| 文章 | 引用次数 |\n|---|---:|");
        for a in &data.top_articles {
            let _ = writeln!(out, "| {} | {} |", cell(&a.title), a.uses);
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## 口径说明\n");
    for note in notes(data).iter().skip(1) {
        let _ = writeln!(out, "- {note}");
    }
    out
}
