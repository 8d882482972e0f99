//! `hotline bench legacy-export`: a retired hotline's export of any length,
//! to time `hotline import legacy` (#16 asks for 1 M rows in under 5
//! minutes on PostgreSQL) without a real million-row export at hand.
//!
//! The rows are the shipped sample's (`deploy/import/sample-12315.csv`,
//! built into the binary), repeated in turn under new numbers, so the file
//! fits the shipped mapping (`deploy/import/mapping.example.toml`) against
//! the demo city, and carries the sample's mix of open, replied and closed
//! rows, rated and not, with and without a caller. Only the number column
//! changes: each row's is the source's prefix and its row index, unique in
//! the file, so an import writes every row once.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::Args;

/// The shipped sample export.
const SAMPLE: &str = include_str!("../../../deploy/import/sample-12315.csv");

/// Options of `hotline bench legacy-export`.
#[derive(Debug, Clone, Args)]
pub struct LegacyExportOptions {
    /// Rows to write (besides the header).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// The file to write (CSV, UTF-8, header row).
    #[arg(long, default_value = "legacy-export.csv")]
    pub out: PathBuf,
}

/// Writes the export and says where.
pub fn run(opts: &LegacyExportOptions) -> anyhow::Result<()> {
    let file = std::fs::File::create(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    write_export(SAMPLE, opts.rows, &mut out)?;
    out.flush()?;
    println!(
        "legacy-export: {} rows (deploy/import/sample-12315.csv repeated under new numbers) in {}",
        opts.rows,
        opts.out.display()
    );
    Ok(())
}

/// Writes `sample`'s header, then `rows` of its records in turn, the first
/// column (the number, as in the shipped sample and mapping) of row `i`
/// replaced by `{prefix}-G{i:09}`, where `prefix` is the first sample
/// number's part before its first `-` (the hotline, e.g. `12315`).
fn write_export(sample: &str, rows: u64, out: impl Write) -> anyhow::Result<()> {
    let mut reader = csv::Reader::from_reader(sample.as_bytes());
    let header = reader.headers()?.clone();
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    anyhow::ensure!(!records.is_empty(), "the sample export has no rows");
    let prefix = records[0]
        .get(0)
        .and_then(|n| n.split('-').next())
        .filter(|p| !p.is_empty())
        .context("the sample's first row has no number")?
        .to_owned();
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&header)?;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for i in 0..rows {
        let record = &records[usize::try_from(i % records.len() as u64)?];
        row.clear();
        row.push(format!("{prefix}-G{i:09}"));
        row.extend(record.iter().skip(1).map(str::to_owned));
        writer.write_record(&row)?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_export_repeats_the_sample_under_unique_numbers() {
        let mut bytes = Vec::new();
        write_export(SAMPLE, 100, &mut bytes).unwrap();
        let mut written = csv::Reader::from_reader(bytes.as_slice());
        let mut sample = csv::Reader::from_reader(SAMPLE.as_bytes());
        assert_eq!(written.headers().unwrap(), sample.headers().unwrap());
        let rows: Vec<csv::StringRecord> = written.records().map(Result::unwrap).collect();
        let originals: Vec<csv::StringRecord> = sample.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 100);
        let numbers: HashSet<&str> = rows.iter().map(|r| r.get(0).unwrap()).collect();
        assert_eq!(numbers.len(), 100, "every number is new and unique");
        assert!(rows[0].get(0).unwrap().starts_with("12315-G"));
        for (i, row) in rows.iter().enumerate() {
            let original = &originals[i % originals.len()];
            assert_eq!(
                row.iter().skip(1).collect::<Vec<_>>(),
                original.iter().skip(1).collect::<Vec<_>>(),
                "row {i} keeps its sample row's fields"
            );
        }
    }
}
