//! `hotline` binary: a thin shim over [`cli`].

mod cli;
mod import;
mod keys;
mod knowledge;
mod model;

use clap::Parser;

/// mimalloc instead of glibc malloc: intake allocates many small, short-lived
/// buffers (HTTP/2 frames, protobuf, SQL values) across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cli::run(cli::Cli::parse()).await
}
