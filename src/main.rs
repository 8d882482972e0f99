//! `hotline` binary: a thin shim over [`hotline::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hotline::cli::run(hotline::cli::Cli::parse()).await
}
