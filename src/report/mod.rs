//! Disclosure reports (政府信息公开): a year's or a month's tickets as
//! Markdown, CSV and a self-contained HTML page with SVG charts — volumes by
//! request type, channel, subject and district, 办复率 per request type,
//! centre-wide performance, the units with the most overdue rounds and the
//! knowledge-base articles answers at intake cited most.
//!
//! One job per file: [`data`] gathers the numbers from the store (its docs
//! say where each comes from), [`figures`] picks the charts and [`charts`]
//! draws them, the `render_*` modules only format. Reports are
//! de-identified by construction: [`data::ReportData`] holds codes, counts
//! and names of units, subjects and regions, never caller data.

pub mod charts;
pub mod command;
pub mod data;
pub mod figures;
pub mod labels;
pub mod render_csv;
pub mod render_html;
pub mod render_md;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::domain::metrics::Ratio;
use data::{CounterBasis, Period, ReportData};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown, with chart files in `charts/` beside it.
    Md,
    /// One long CSV table.
    Csv,
    /// A self-contained HTML page with inline SVG charts.
    Html,
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Md => "md",
            Self::Csv => "csv",
            Self::Html => "html",
        }
    }
}

/// `66.7%`, or `—` for a rate of nothing.
pub(crate) fn percent(r: Ratio) -> String {
    r.value()
        .map_or_else(|| "—".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// `66.7% (2/3)`: the rate with the counts behind it.
pub(crate) fn ratio_text(r: Ratio) -> String {
    format!("{} ({}/{})", percent(r), r.numerator, r.denominator)
}

/// The report's title.
pub(crate) fn title(data: &ReportData) -> String {
    format!("12345 热线诉求办理情况报告：{}", data.period.title())
}

/// The lead paragraph, then the notes on definitions (口径说明).
pub(crate) fn notes(data: &ReportData) -> Vec<String> {
    let local = data.generated.with_timezone(&data.offset);
    let basis = match &data.counters {
        CounterBasis::Live => {
            "实时计数（期间未结束或未冻结的月份，数字可能随后续更正变化）".to_owned()
        }
        CounterBasis::Frozen { freeze_time } => format!(
            "{} 冻结的月度快照",
            freeze_time
                .with_timezone(&data.offset)
                .format("%Y-%m-%d %H:%M")
        ),
    };
    vec![
        format!(
            "统计期间：{} 至 {}（中心所在时区 UTC{} 的自然日）。生成时间：{}。本报告已去标识化：\
             只含统计数字及承办单位、诉求分类、行政区划的名称，不含来电人姓名、电话、地址或诉求内容。",
            data.period.first_day(),
            data.period.end().pred_opt().unwrap_or(data.period.first_day()),
            data.offset,
            local.format("%Y-%m-%d %H:%M"),
        ),
        "来件：期间创建的工单。受理：来件减去不予受理（有法定途径）、转 110/119/120/122 紧急处置和重复件合并。".to_owned(),
        "办复率 = (直接答复 + 单位答复) ÷ 受理，按诉求类型统计：直接答复为坐席当场办结的工单，单位答复为承办单位已答复且未被退回或重办的工单，按报告生成时的工单状态计。".to_owned(),
        "办理绩效取自承办单位的每日计数，与单位考核（GetUnitScorecard）口径一致：按时办结率 = 按期答复 ÷ 期内到期的办理轮次；满意率 = (满意 + 基本满意) ÷ 已评价；解决率 = 表示已解决 ÷ 已评价；超期 = 答复期限在期内届满而未答复的办理轮次。".to_owned(),
        format!("办理绩效的计数来源：{basis}。"),
        "直办率 = 直接答复 ÷ 受理（见办理绩效）；知识库文章的引用次数 = 期内直接答复并引用该文章的工单数（一张工单引用多篇时各计一次）。".to_owned(),
    ]
}

/// Writes one format to `path` (and, for Markdown, the charts into
/// `charts/` beside it); returns the files written.
pub fn write_format(
    data: &ReportData,
    format: Format,
    path: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let text = match format {
        Format::Csv => render_csv::render(data),
        Format::Html => render_html::render(data, &figures::figures(data)?),
        Format::Md => {
            let figures = figures::figures(data)?;
            let dir = path.parent().unwrap_or(Path::new("")).join("charts");
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for f in &figures {
                let file = dir.join(format!("{}.svg", f.slug));
                std::fs::write(&file, &f.svg)
                    .with_context(|| format!("writing {}", file.display()))?;
                written.push(file);
            }
            render_md::render(data, &figures)
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    written.push(path.to_owned());
    Ok(written)
}

/// The default name of a report: `report-2026-10`.
pub fn default_name(period: Period) -> String {
    format!("report-{}", period.slug())
}

#[cfg(test)]
mod tests;
