//! Command-line interface: `serve`, `token`, `config print-default`, `migrate`.

use std::{path::PathBuf, sync::Arc};

use clap::{Parser, Subcommand};

use crate::{
    app::{Application, shutdown_signal},
    auth::{TokenRequest, hs256_secret, issue_hs256_token},
    config::{DEFAULT_CONFIG_TOML, JwtAlgorithm, Settings},
    domain::{Clock, Role, SystemClock, text_enum::TextEnum},
};

/// 12345 unified hotline ticket service.
#[derive(Debug, Parser)]
#[command(name = "hotline", version, about)]
pub struct Cli {
    /// TOML configuration file (defaults apply without one).
    #[arg(long, global = true, env = "HOTLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Print a development token signed with the local HS256 secret.
    Token {
        /// Role: agent, unit_handler, supervisor or admin (repeatable).
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
    /// Configuration helpers.
    Config {
        /// What to do with the configuration.
        #[command(subcommand)]
        action: ConfigAction,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print a commented example configuration with the defaults.
    PrintDefault,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
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
            init_tracing(&settings);
            let app = Application::build(settings, Arc::new(SystemClock)).await?;
            tracing::info!(addr = %app.local_addr(), "hotline serving gRPC");
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate { database_url } => {
            let url = database_url.unwrap_or(settings.database.url);
            crate::store::open(&url, 1, true).await?;
            println!("migrations applied to {}", crate::app::redact_url(&url));
            Ok(())
        }
        Command::Token {
            roles,
            sub,
            unit_id,
            region,
        } => {
            anyhow::ensure!(
                settings.auth.algorithm == JwtAlgorithm::HS256,
                "dev tokens need auth.algorithm = \"HS256\"; with RS256/ES256 tokens come from your identity provider"
            );
            let roles = roles
                .iter()
                .map(|r| {
                    Role::from_code(r).ok_or_else(|| {
                        anyhow::anyhow!(
                            "unknown role {r:?} (agent, unit_handler, supervisor, admin)"
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let secret = hs256_secret(&settings.auth)?;
            let request = TokenRequest {
                subject: sub,
                roles,
                unit_id,
                region,
            };
            println!(
                "{}",
                issue_hs256_token(&settings.auth, &secret, &request, SystemClock.now())?
            );
            Ok(())
        }
        Command::Config {
            action: ConfigAction::PrintDefault,
        } => {
            print!("{DEFAULT_CONFIG_TOML}");
            Ok(())
        }
    }
}

fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if settings.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
