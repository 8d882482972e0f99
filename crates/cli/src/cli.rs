//! Command-line interface: `serve`, `token`, `config print-default`, `migrate`,
//! `backup`, `keys`, `import`, `bench`.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};

use hotline::{
    app::{Application, shutdown_signal},
    auth::{Signer, TokenRequest},
    config::{DEFAULT_CONFIG_TOML, Settings},
    domain::{Clock, Role, SystemClock, text_enum::TextEnum},
    service::catalogue::{self, PublishError},
};

/// 12345 unified hotline ticket service.
#[derive(Debug, Parser)]
#[command(name = "hotline", version, about)]
pub(crate) struct Cli {
    /// TOML configuration file (defaults apply without one, or with an
    /// empty value).
    #[arg(long, global = true, env = "HOTLINE_CONFIG", value_parser = config_path)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A config path as given; empty is accepted (clap's path parser rejects
/// it) and means no file, so `HOTLINE_CONFIG=` clears the variable as a
/// unit file or a container spec can.
fn config_path(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(value))
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gRPC server.
    Serve {
        /// Listen address, e.g. 0.0.0.0:50051.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate {
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Print a development token signed with the current key: the local
    /// HS256 secret, or with RS256/ES256 `auth.signing_key_file`; its `kid`
    /// header names that key.
    Token {
        /// Role: agent, unit_handler, supervisor, admin or auditor (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Subject (user id).
        #[arg(long)]
        sub: String,
        /// Unit id, required for unit_handler.
        #[arg(long)]
        unit_id: Option<String>,
        /// Region prefix, required for supervisor.
        #[arg(long)]
        region: Option<String>,
    },
    /// Back up the database while servers run: SQLite to a new FILE (a
    /// consistent copy, `VACUUM INTO`); for PostgreSQL, prints the `pg_dump`
    /// command to use instead.
    Backup {
        /// The backup file to create; an existing file is never overwritten.
        file: PathBuf,
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The dispatch catalogue (派单目录).
    Rules {
        /// What to do with the rules.
        #[command(subcommand)]
        action: RulesAction,
    },
    /// The working-day calendar (工作日历).
    Calendar {
        /// What to do with the calendar.
        #[command(subcommand)]
        action: CalendarAction,
    },
    /// Demo data.
    Demo {
        /// What to do with the demo city.
        #[command(subcommand)]
        action: DemoAction,
    },
    /// Disclosure reports (Markdown, CSV, HTML with charts), de-identified.
    Report {
        /// Which period.
        #[command(subcommand)]
        action: hotline::report::command::ReportCommand,
    },
    /// Load generator: closed-loop scenarios against an in-process (or
    /// running) server, with the raw database limit of intake for comparison.
    Bench {
        /// Scenario to run.
        #[command(subcommand)]
        scenario: hotline_bench::BenchCommand,
    },
    /// The keys that seal caller data at rest: add one, re-seal under it.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        action: crate::keys::KeysAction,
    },
    /// Bring in tickets from elsewhere: the retired hotlines' exports.
    Import {
        /// What to import.
        #[command(subcommand)]
        action: crate::import::ImportAction,
    },
    /// The learned dispatch suggestion: train a version from closed tickets.
    Model {
        /// What to do.
        #[command(subcommand)]
        action: crate::model::ModelAction,
    },
    /// The knowledge base: draft articles from files.
    Knowledge {
        /// What to do.
        #[command(subcommand)]
        action: crate::knowledge::KnowledgeAction,
    },
    /// Configuration helpers.
    Config {
        /// What to do with the configuration.
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// `rules` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RulesAction {
    /// Load `[[rule]]` tables from a TOML file into the draft rule set.
    Import {
        /// The rules file: TOML (`[[rule]]` tables), or CSV when it ends in
        /// `.csv` (a header row of the same field names, lists split by `|`).
        file: PathBuf,
        /// Remove draft rules that are not in the file.
        #[arg(long)]
        replace: bool,
        /// Validate and publish the draft as a new version afterwards.
        #[arg(long)]
        publish: bool,
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// `calendar` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CalendarAction {
    /// Load `[[year]]` schedules (a new year, or local extra holidays) from a
    /// TOML file as a new calendar version; running servers pick it up.
    Import {
        /// The TOML file.
        file: PathBuf,
        /// What is being loaded, for the audit trail.
        #[arg(long, default_value = "")]
        note: String,
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// `demo` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum DemoAction {
    /// Load the demo city: districts and streets, 30+ departments, and a
    /// published dispatch catalogue.
    Seed {
        /// Database URL: sqlite://FILE or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigAction {
    /// Print a commented example configuration with the defaults.
    PrintDefault,
}

/// Runs the parsed command.
pub(crate) async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve {
            listen,
            database_url,
        } => {
            if let Some(listen) = listen {
                settings.server.listen = listen;
            }
            if let Some(url) = database_url {
                settings.database.url = url;
            }
            let export = hotline::telemetry::traces::install(&settings)?;
            let app = Application::build(settings, Arc::new(SystemClock)).await?;
            tracing::info!(addr = %app.local_addr(), "hotline serving gRPC");
            let served = app.run_until(shutdown_signal()).await;
            // After the drain, so the last calls' spans leave too.
            if let Some(export) = export {
                export.shutdown();
            }
            served
        }
        Command::Migrate { database_url } => {
            let url = database_url.unwrap_or(settings.database.url);
            hotline::store::open(&url, 1, true).await?;
            println!("migrations applied to {}", hotline::app::redact_url(&url));
            Ok(())
        }
        Command::Token {
            roles,
            sub,
            unit_id,
            region,
        } => {
            let roles = roles
                .iter()
                .map(|r| {
                    Role::from_code(r).ok_or_else(|| {
                        anyhow::anyhow!(
                            "unknown role {r:?} (agent, unit_handler, supervisor, admin, auditor)"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let signer = Signer::from_settings(&settings.auth)?;
            let request = TokenRequest {
                subject: sub,
                roles,
                unit_id,
                region,
            };
            println!(
                "{}",
                signer.issue(&settings.auth, &request, SystemClock.now())?
            );
            Ok(())
        }
        Command::Backup { file, database_url } => {
            let url = database_url.unwrap_or(settings.database.url);
            let bytes = hotline::store::backup(&url, &file).await?;
            println!(
                "backed up {} to {} ({bytes} bytes)",
                hotline::app::redact_url(&url),
                file.display()
            );
            Ok(())
        }
        Command::Rules {
            action:
                RulesAction::Import {
                    file,
                    replace,
                    publish,
                    database_url,
                },
        } => {
            let url = database_url.unwrap_or(settings.database.url);
            let store = hotline::store::open(&url, 1, true).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let is_csv = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            let rules = if is_csv {
                catalogue::parse_rules_csv(&text).map_err(anyhow::Error::from)
            } else {
                catalogue::parse_rules_toml(&text).map_err(anyhow::Error::from)
            }
            .with_context(|| format!("parsing {}", file.display()))?;
            let now = SystemClock.now();
            let summary =
                catalogue::import_into_draft(store.as_ref(), &rules, replace, now).await?;
            println!(
                "draft: {} added, {} replaced, {} removed",
                summary.created, summary.updated, summary.deleted
            );
            if publish {
                match catalogue::publish_draft(
                    store.as_ref(),
                    "cli",
                    &format!("import {}", file.display()),
                    now,
                )
                .await
                {
                    Ok(info) => println!(
                        "published ruleSets/{} ({} rules)",
                        info.version, info.rule_count
                    ),
                    Err(PublishError::Invalid(violations)) => {
                        for v in &violations {
                            eprintln!("rules/{}.{}: {}", v.rule_id, v.field, v.message);
                        }
                        anyhow::bail!(
                            "not published: {} problem(s); the active version is unchanged",
                            violations.len()
                        );
                    }
                    Err(PublishError::Store(e)) => return Err(e.into()),
                }
            }
            Ok(())
        }
        Command::Calendar {
            action:
                CalendarAction::Import {
                    file,
                    note,
                    database_url,
                },
        } => {
            let url = database_url.unwrap_or(settings.database.url.clone());
            let store = hotline::store::open(&url, 1, true).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let data = hotline::domain::calendar::CalendarData::from_toml(&text)
                .with_context(|| format!("checking {}", file.display()))?;
            let offset = chrono::FixedOffset::east_opt(settings.centre.utc_offset_hours * 3600)
                .context("centre.utc_offset_hours out of range")?;
            let now = SystemClock.now();
            let cell = hotline::service::calendar_cell::CalendarCell::load(
                store,
                settings.calendar.working_hours()?,
                offset,
                now,
            )
            .await?;
            let note = if note.is_empty() {
                format!("import {}", file.display())
            } else {
                note
            };
            let stored = cell.import(&data, &note, "cli", now).await?;
            println!("calendar version {} stored and in force", stored.version);
            Ok(())
        }
        Command::Demo {
            action: DemoAction::Seed { database_url },
        } => {
            let url = database_url.unwrap_or(settings.database.url);
            let store = hotline::store::open(&url, 1, true).await?;
            let city = hotline::demo::load()?;
            let summary =
                hotline::seed::seed_demo(store.as_ref(), &city, SystemClock.now()).await?;
            println!(
                "demo city seeded into {}: {} regions and {} units added; {} rules published as ruleSets/{}",
                hotline::app::redact_url(&url),
                summary.regions_added,
                summary.units_added,
                summary.rule_set.rule_count,
                summary.rule_set.version
            );
            Ok(())
        }
        Command::Report { action } => hotline::report::command::run(action, &settings).await,
        Command::Bench { scenario } => hotline_bench::main(scenario).await,
        Command::Keys { action } => crate::keys::run(action, &settings).await,
        Command::Import { action } => crate::import::run(action, &settings).await,
        Command::Knowledge { action } => crate::knowledge::run(action, &settings).await,
        Command::Model { action } => crate::model::run(action, &settings).await,
        Command::Config {
            action: ConfigAction::PrintDefault,
        } => {
            print!("{DEFAULT_CONFIG_TOML}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_reads_no_hotline_variable_that_the_settings_layer_would_misread() {
        use clap::CommandFactory;
        fn envs(cmd: &clap::Command, out: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if let Some(name) = arg.get_env() {
                    out.push(name.to_string_lossy().into_owned());
                }
            }
            for sub in cmd.get_subcommands() {
                envs(sub, out);
            }
        }
        let mut names = Vec::new();
        envs(&Cli::command(), &mut names);
        assert!(names.iter().any(|n| n == "HOTLINE_CONFIG"), "{names:?}");
        for name in names {
            if name.starts_with(hotline::config::ENV_PREFIX) {
                assert!(
                    hotline::config::NOT_SETTINGS.contains(&name.as_str()),
                    "{name} is read by clap and must be excluded from the settings"
                );
            }
        }
    }
}
