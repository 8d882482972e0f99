//! The CSV rendering: one long table (`section,key,label,measure,count,
//! denominator,rate_percent`) so every number is one row a spreadsheet or a
//! script can filter, with stable codes beside the names.

use super::{
    data::{ReportData, Volume},
    labels,
};
use crate::domain::{metrics::Ratio, text_enum::TextEnum};

/// The header row.
pub const HEADER: &str = "section,key,label,measure,count,denominator,rate_percent";

/// RFC 4180 quoting where a field needs it.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn count(out: &mut String, section: &str, key: &str, label: &str, measure: &str, n: i64) {
    out.push_str(&format!(
        "{section},{},{},{measure},{n},,\r\n",
        field(key),
        field(label)
    ));
}

fn rate(out: &mut String, section: &str, key: &str, label: &str, measure: &str, r: Ratio) {
    let value = r
        .value()
        .map(|v| format!("{:.1}", v * 100.0))
        .unwrap_or_default();
    out.push_str(&format!(
        "{section},{},{},{measure},{},{},{value}\r\n",
        field(key),
        field(label),
        r.numerator,
        r.denominator
    ));
}

fn volumes(out: &mut String, section: &str, volumes: &[Volume]) {
    for v in volumes {
        count(out, section, &v.key, &v.label, "received", v.received);
    }
}

/// The report as CSV (CRLF line ends, UTF-8).
pub fn render(data: &ReportData) -> String {
    let mut out = format!("{HEADER}\r\n");
    let rows = data
        .by_type
        .iter()
        .map(|(t, flow)| (t.code(), labels::request_type(*t), flow))
        .chain(std::iter::once(("total", "合计", &data.total)));
    for (key, label, f) in rows {
        let s = "request_type";
        count(&mut out, s, key, label, "received", f.received);
        count(&mut out, s, key, label, "accepted", f.accepted);
        count(
            &mut out,
            s,
            key,
            label,
            "answered_at_intake",
            f.answered_at_intake,
        );
        count(
            &mut out,
            s,
            key,
            label,
            "replied_by_unit",
            f.replied_by_unit,
        );
        rate(&mut out, s, key, label, "reply_rate", f.reply_rate());
    }
    volumes(&mut out, "channel", &data.by_channel);
    volumes(&mut out, "subject", &data.by_subject);
    volumes(&mut out, "district", &data.by_district);
    volumes(&mut out, "month", &data.by_month);
    for r in &data.rates {
        rate(
            &mut out,
            "rate",
            r.name,
            labels::rate(r.name),
            r.name,
            r.ratio,
        );
    }
    for u in &data.top_overdue {
        let (s, key) = ("overdue_unit", u.unit.as_str());
        count(&mut out, s, key, &u.name, "overdue", u.overdue);
        rate(
            &mut out,
            s,
            key,
            &u.name,
            "on_time_completion",
            u.on_time_completion,
        );
        rate(&mut out, s, key, &u.name, "satisfaction", u.satisfaction);
        rate(&mut out, s, key, &u.name, "resolution", u.resolution);
    }
    for a in &data.top_articles {
        count(
            &mut out,
            "cited_article",
            &a.article,
            &a.title,
            "uses",
            a.uses,
        );
    }
    out
}
