//! SVG charts drawn with `plotters`' SVG backend.
//!
//! No font is loaded: without a font feature `plotters` only estimates text
//! extents, and the SVG carries labels as `<text>` elements that the
//! browser lays out with its own fonts (CJK included). Label areas are
//! sized here from the character count for that reason, since the estimate
//! counts UTF-8 bytes and would triple the room for Chinese labels.

use plotters::{
    coord::ranged1d::SegmentValue,
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

/// The colour of every data bar: tests count bars by it.
pub const BAR_COLOR: RGBColor = RGBColor(0x2F, 0x6F, 0xB3);
/// [`BAR_COLOR`] as the SVG backend writes it.
pub const BAR_FILL: &str = "#2F6FB3";

const WIDTH: u32 = 760;
const ROW: u32 = 26;
const FONT: &str = "sans-serif";

/// A chart failed to draw (a bug: the inputs are plain numbers).
#[derive(Debug, thiserror::Error)]
#[error("chart {title:?}: {message}")]
pub struct ChartError {
    title: String,
    message: String,
}

impl ChartError {
    fn new(title: &str, err: impl std::fmt::Display) -> Self {
        Self {
            title: title.to_owned(),
            message: err.to_string(),
        }
    }
}

/// What the values of a chart are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Counts, axis from zero to the largest.
    Count,
    /// Rates in percent, axis 0–100.
    Percent,
}

/// One bar: its label and value (`None`: not defined, e.g. a rate of
/// nothing; the row is labelled but has no bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The category.
    pub label: String,
    /// The value, in the chart's scale.
    pub value: Option<f64>,
}

fn label_width(labels: impl Iterator<Item = usize>) -> u32 {
    let chars = labels.max().unwrap_or(0).min(24) as u32;
    chars * 13 + 16
}

fn value_text(value: f64, scale: Scale) -> String {
    match scale {
        Scale::Count => format!("{value:.0}"),
        Scale::Percent => format!("{value:.1}%"),
    }
}

/// A horizontal bar chart, first bar on top, each bar labelled with its value.
pub fn bar_chart(title: &str, bars: &[Bar], scale: Scale) -> Result<String, ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError::new(title, e);
    // At least two rows: a one-row segmented range (`0..0`) has no height.
    let n = bars.len().max(2);
    let height = 70 + ROW * n as u32;
    let max = match scale {
        Scale::Percent => 100.0,
        Scale::Count => bars.iter().filter_map(|b| b.value).fold(1.0_f64, f64::max),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(label_width(bars.iter().map(|b| b.label.chars().count())))
            .build_cartesian_2d(0.0..max * 1.12, (0..n - 1).into_segmented())
            .map_err(|e| err(&e))?;
        // An integer range is inclusive in plotters, so `0..n - 1` has n
        // rows. Row i (from the bottom) shows bar n-1-i: the first on top;
        // rows without a bar stay blank.
        let label_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < n => bars
                .get(n - 1 - i)
                .map(|b| b.label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_labels(6)
            .x_label_formatter(&|v| value_text(*v, scale))
            .label_style((FONT, 13))
            .draw()
            .map_err(|e| err(&e))?;
        let rows = bars
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.value.map(|v| (n - 1 - i, v)));
        chart
            .draw_series(rows.clone().map(|(row, v)| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(row)),
                        (v, SegmentValue::Exact(row + 1)),
                    ],
                    BAR_COLOR.filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                bar
            }))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(rows.map(|(row, v)| {
                Text::new(
                    format!(" {}", value_text(v, scale)),
                    (v, SegmentValue::CenterOf(row)),
                    TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
                )
            }))
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// A line chart of counts over ordered categories (months), with a marker
/// per point.
pub fn line_chart(title: &str, points: &[(String, i64)]) -> Result<String, ChartError> {
    let err = |e: &dyn std::fmt::Display| ChartError::new(title, e);
    let n = points.len().max(2);
    let max = points.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..max * 1.12)
            .map_err(|e| err(&e))?;
        let label_of = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => points.get(*i).map(|p| p.0.clone()).unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label_of)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 12))
            .draw()
            .map_err(|e| err(&e))?;
        let series: Vec<(SegmentValue<usize>, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, (_, v))| (SegmentValue::CenterOf(i), *v as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), BAR_COLOR.stroke_width(2)))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(
                series
                    .into_iter()
                    .map(|p| Circle::new(p, 3, BAR_COLOR.filled())),
            )
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn bars_in(svg: &str) -> usize {
        let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc.descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(BAR_FILL))
            .count()
    }

    #[test]
    fn bar_charts_are_well_formed_svg_with_one_bar_per_defined_value() {
        let bars = vec![
            Bar {
                label: "投诉 <&>".into(),
                value: Some(12.0),
            },
            Bar {
                label: "咨询".into(),
                value: Some(0.0),
            },
            Bar {
                label: "建议".into(),
                value: Some(3.0),
            },
        ];
        let svg = bar_chart("按诉求类型", &bars, Scale::Count).unwrap();
        assert_eq!(bars_in(&svg), 3);
        assert!(
            svg.contains("投诉 &lt;&amp;&gt;"),
            "labels are escaped text"
        );
        assert!(svg.contains("按诉求类型"));

        let rates = vec![
            Bar {
                label: "满意率".into(),
                value: Some(50.0),
            },
            Bar {
                label: "解决率".into(),
                value: None,
            },
        ];
        let svg = bar_chart("rates", &rates, Scale::Percent).unwrap();
        assert_eq!(bars_in(&svg), 1, "an undefined rate has no bar");
        assert!(svg.contains("50.0%"));

        let one = vec![Bar {
            label: "唯一".into(),
            value: Some(3.0),
        }];
        let svg = bar_chart("one", &one, Scale::Count).unwrap();
        assert_eq!(bars_in(&svg), 1);
        assert_eq!(
            svg.matches("唯一").count(),
            1,
            "one row label, not repeated"
        );

        let svg = bar_chart("empty", &[], Scale::Count).unwrap();
        assert_eq!(bars_in(&svg), 0);
    }

    #[test]
    fn line_charts_are_well_formed_svg_with_a_marker_per_point() {
        let points: Vec<(String, i64)> =
            (1..=12).map(|m| (format!("2026-{m:02}"), m * 3)).collect();
        let svg = line_chart("每月受理量", &points).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let markers = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle") && n.attribute("fill") == Some(BAR_FILL))
            .count();
        assert_eq!(markers, 12);
        assert!(doc.descendants().any(|n| n.has_tag_name("polyline")));
    }
}
