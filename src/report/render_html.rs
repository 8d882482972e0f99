//! The HTML rendering: one self-contained page (inline CSS, inline SVG
//! charts, no scripts, no external resources) that opens from disk in any
//! browser and can be published as is.

use std::fmt::Write;

use super::{
    data::{Period, ReportData, Volume},
    figures::Figure,
    labels, notes, percent, ratio_text, title,
};

const STYLE: &str = "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;\
color:#222}table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;\
padding:.3rem .6rem}td.n{text-align:right}th{background:#f2f5f9}figure{margin:1rem 0}\
figcaption{color:#555;font-size:.9rem}footer{color:#555;font-size:.9rem}";

/// Escapes text for element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let class = if i == 0 { "" } else { " class=\"n\"" };
            let _ = write!(out, "<td{class}>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

fn figure(out: &mut String, figures: &[Figure], slug: &str) {
    if let Some(f) = figures.iter().find(|f| f.slug == slug) {
        let _ = writeln!(
            out,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            f.svg,
            esc(&f.title)
        );
    }
}

fn volumes(out: &mut String, heading: &str, head: &str, vs: &[Volume], total: i64) {
    let _ = writeln!(out, "<h2>{}</h2>", esc(heading));
    let rows: Vec<Vec<String>> = vs
        .iter()
        .map(|v| {
            let share = crate::domain::metrics::Ratio::new(v.received, total);
            vec![v.label.clone(), v.received.to_string(), percent(share)]
        })
        .collect();
    table(out, &[head, "来件", "占比"], &rows);
}

/// The report as an HTML page with the charts inline.
pub fn render(data: &ReportData, figures: &[Figure]) -> String {
    let title = title(data);
    let notes = notes(data);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n",
        t = esc(&title)
    );
    if let Some(first) = notes.first() {
        let _ = writeln!(out, "<p>{}</p>", esc(first));
    }

    out.push_str("<h2>一、来件与办复（按诉求类型）</h2>\n");
    let rows: Vec<Vec<String>> = data
        .by_type
        .iter()
        .map(|(t, flow)| (labels::request_type(*t), flow))
        .chain(std::iter::once(("合计", &data.total)))
        .map(|(name, f)| {
            vec![
                name.to_owned(),
                f.received.to_string(),
                f.accepted.to_string(),
                f.answered_at_intake.to_string(),
                f.replied_by_unit.to_string(),
                ratio_text(f.reply_rate()),
            ]
        })
        .collect();
    table(
        &mut out,
        &["诉求类型", "来件", "受理", "直接答复", "单位答复", "办复率"],
        &rows,
    );
    figure(&mut out, figures, "by-type");
    figure(&mut out, figures, "reply-rate");

    let total = data.total.received;
    volumes(&mut out, "二、受理渠道", "渠道", &data.by_channel, total);
    figure(&mut out, figures, "by-channel");
    volumes(
        &mut out,
        "三、诉求分类（一级）",
        "分类",
        &data.by_subject,
        total,
    );
    figure(&mut out, figures, "by-subject");
    volumes(
        &mut out,
        "四、区域分布（区县）",
        "区县",
        &data.by_district,
        total,
    );
    figure(&mut out, figures, "by-district");
    if let Period::Year(_) = data.period {
        volumes(&mut out, "每月来件量", "月份", &data.by_month, total);
        figure(&mut out, figures, "by-month");
    }

    out.push_str("<h2>五、办理绩效（全市承办单位）</h2>\n");
    let rows: Vec<Vec<String>> = data
        .rates
        .iter()
        .map(|r| {
            vec![
                labels::rate(r.name).to_owned(),
                percent(r.ratio),
                r.ratio.numerator.to_string(),
                r.ratio.denominator.to_string(),
            ]
        })
        .collect();
    table(&mut out, &["指标", "比率", "分子", "分母"], &rows);
    figure(&mut out, figures, "rates");

    out.push_str("<h2>六、超期件数较多的承办单位</h2>\n");
    if data.top_overdue.is_empty() {
        out.push_str("<p>本期无超期。</p>\n");
    } else {
        let rows: Vec<Vec<String>> = data
            .top_overdue
            .iter()
            .map(|u| {
                vec![
                    u.name.clone(),
                    u.overdue.to_string(),
                    ratio_text(u.on_time_completion),
                    ratio_text(u.satisfaction),
                    ratio_text(u.resolution),
                ]
            })
            .collect();
        table(
            &mut out,
            &["承办单位", "超期", "按时办结率", "满意率", "解决率"],
            &rows,
        );
        figure(&mut out, figures, "top-overdue");
    }

    out.push_str("<h2>七、直接答复引用最多的知识库文章</h2>\n");
    if data.top_articles.is_empty() {
        out.push_str("<p>本期直接答复未引用知识库文章。</p>\n");
    } else {
        let rows: Vec<Vec<String>> = data
            .top_articles
            .iter()
            .map(|a| vec![a.title.clone(), a.uses.to_string()])
            .collect();
        table(&mut out, &["文章", "引用次数"], &rows);
    }

    out.push_str("<footer><h2>口径说明</h2><ul>\n");
    for note in notes.iter().skip(1) {
        let _ = writeln!(out, "<li>{}</li>", esc(note));
    }
    out.push_str("</ul></footer>\n</body>\n</html>\n");
    out
}
