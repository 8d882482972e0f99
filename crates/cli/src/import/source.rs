//! Reading a retired hotline's export: CSV (`csv`) or the first sheet of an
//! Excel workbook (`calamine`), both into [`RawRow`]s of text cells under
//! one header, with the row number a person sees in the file (the header is
//! row 1), so every problem can name where it is.

use std::{fs::File, io::BufReader, path::Path};

use anyhow::{Context, bail};
use calamine::{Data, Reader, open_workbook_auto};

/// One data row as text cells, in header order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawRow {
    /// The row's number in the file (header = 1).
    pub line: u64,
    /// Cells, trimmed; missing trailing cells are empty.
    pub cells: Vec<String>,
}

/// An opened export: its header, then its rows one at a time.
pub(crate) struct Source {
    /// The header row's column names.
    pub header: Vec<String>,
    rows: Box<dyn Iterator<Item = anyhow::Result<RawRow>>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Iterator for Source {
    type Item = anyhow::Result<RawRow>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

impl Source {
    /// Opens `path` by its extension: `.csv`, or `.xlsx`/`.xls`/`.ods`.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Self::csv(path),
            "xlsx" | "xlsm" | "xls" | "ods" => Self::workbook(path),
            _ => bail!(
                "{}: not a .csv or .xlsx file (name the file with its extension)",
                path.display()
            ),
        }
    }

    fn csv(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(BufReader::new(file));
        let header = reader
            .headers()
            .with_context(|| format!("reading the header row of {}", path.display()))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_owned())
            .collect();
        let rows = reader.into_records().map(|record| {
            let record = record.context("reading a CSV row")?;
            let line = record.position().map_or(0, |p| p.line());
            Ok(RawRow {
                line,
                cells: record.iter().map(str::to_owned).collect(),
            })
        });
        Ok(Self {
            header,
            rows: Box::new(rows),
        })
    }

    fn workbook(path: &Path) -> anyhow::Result<Self> {
        let mut book =
            open_workbook_auto(path).with_context(|| format!("opening {}", path.display()))?;
        let range = book
            .worksheet_range_at(0)
            .with_context(|| format!("{} has no sheet", path.display()))?
            .with_context(|| format!("reading the first sheet of {}", path.display()))?;
        // Row numbers as Excel shows them, wherever the used range starts.
        let first_row = u64::from(range.start().map_or(0, |(row, _)| row)) + 1;
        let mut rows = range.rows();
        let header = rows
            .next()
            .with_context(|| format!("{}: the first sheet is empty", path.display()))?
            .iter()
            .map(cell_text)
            .collect();
        let rows: Vec<anyhow::Result<RawRow>> = rows
            .enumerate()
            .map(|(i, cells)| {
                Ok(RawRow {
                    line: first_row + 1 + i as u64,
                    cells: cells.iter().map(cell_text).collect(),
                })
            })
            .filter(|row| !matches!(row, Ok(r) if r.cells.iter().all(String::is_empty)))
            .collect();
        Ok(Self {
            header,
            rows: Box::new(rows.into_iter()),
        })
    }
}

/// How a date cell of a workbook reads ([`cell_text`]); row checks accept
/// it whatever the mapping's `time_formats` say.
pub(crate) const CELL_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A cell as the text a CSV export of it would hold: whole numbers without
/// `.0` (phone numbers are often stored as numbers), date cells in
/// [`CELL_TIME_FORMAT`].
pub(crate) fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d
            .as_datetime()
            .map(|t| t.format(CELL_TIME_FORMAT).to_string())
            .unwrap_or_else(|| d.to_string()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.replace('T', " "),
        Data::Error(e) => format!("#{e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_carry_their_line_numbers_and_trimmed_cells() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "\u{feff}编号,内容\n A1 , 路灯不亮\nA2\n").expect("write");
        let source = Source::open(&path).expect("open");
        assert_eq!(source.header, ["编号", "内容"]);
        let rows: Vec<RawRow> = source.map(|r| r.expect("row")).collect();
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].cells, ["A1", "路灯不亮"]);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].cells, ["A2"]);
    }

    #[test]
    fn numbers_read_as_a_csv_would_write_them() {
        assert_eq!(cell_text(&Data::Float(13800138000.0)), "13800138000");
        assert_eq!(cell_text(&Data::Float(1.5)), "1.5");
        assert_eq!(cell_text(&Data::String(" x ".into())), "x");
        assert_eq!(cell_text(&Data::Empty), "");
    }

    #[test]
    fn an_unknown_extension_is_refused_by_name() {
        let err = Source::open(Path::new("export.txt")).expect_err("txt");
        assert!(err.to_string().contains("export.txt"), "{err}");
    }
}
