//! `hotline` binary: a thin shim over [`hotline::cli`].

use clap::Parser;

/// mimalloc instead of glibc malloc: intake allocates many small, short-lived
/// buffers (HTTP/2 frames, protobuf, SQL values) across threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hotline::cli::run(hotline::cli::Cli::parse()).await
}
