//! `hotline report annual|monthly`: gathers a period from the configured
//! database and writes the report files.

use std::path::PathBuf;

use anyhow::Context;
use chrono::FixedOffset;
use clap::{Args, Subcommand};

use super::{Format, data, default_name, write_format};
use crate::{
    config::Settings,
    domain::{Clock, SystemClock, metrics::Month},
};

/// `report` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// A calendar year's report (年度报告).
    Annual {
        /// The year, e.g. 2026.
        #[arg(long)]
        year: i32,
        /// Where and how to write it.
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A calendar month's report (月度报告); a frozen month reads its snapshot.
    Monthly {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: Month,
        /// Where and how to write it.
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Output options shared by both periods.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write only this format; without it md, csv and html are all written.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// With --format the file (or an existing directory to put it in);
    /// without, the directory. Default: `report-<period>` in the working
    /// directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Database URL: sqlite://FILE or postgres://…
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Runs a `report` subcommand; prints the files written.
pub async fn run(command: ReportCommand, settings: &Settings) -> anyhow::Result<()> {
    let (period, output) = match command {
        ReportCommand::Annual { year, output } => (data::Period::year(year)?, output),
        ReportCommand::Monthly { month, output } => (data::Period::Month(month), output),
    };
    let url = output
        .database_url
        .unwrap_or_else(|| settings.database.url.clone());
    let store = crate::store::open(&url, 1, settings.database.migrate).await?;
    let offset = FixedOffset::east_opt(settings.centre.utc_offset_hours * 3600)
        .context("centre.utc_offset_hours out of range")?;
    let data = data::gather(store.as_ref(), period, offset, SystemClock.now()).await?;
    let name = default_name(period);
    let file_name = |format: Format| format!("{name}.{}", format.extension());
    let mut written = Vec::new();
    match output.format {
        Some(format) => {
            let path = match output.out {
                Some(p) if p.is_dir() => p.join(file_name(format)),
                Some(p) => p,
                None => PathBuf::from(file_name(format)),
            };
            written.extend(write_format(&data, format, &path)?);
        }
        None => {
            let dir = output.out.unwrap_or_else(|| PathBuf::from(&name));
            for format in [Format::Md, Format::Csv, Format::Html] {
                written.extend(write_format(&data, format, &dir.join(file_name(format)))?);
            }
        }
    }
    for file in written {
        println!("{}", file.display());
    }
    Ok(())
}
