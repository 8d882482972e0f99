//! Compiles `proto/` with `protox` (pure Rust, so contributors need no system
//! `protoc`) and generates prost messages plus tonic clients and servers. The
//! encoded descriptor set is written next to the code for gRPC reflection.

use std::{env, fs, path::PathBuf};

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: &[&str] = &[
    "hotline/v1/common.proto",
    "hotline/v1/ticket.proto",
    "hotline/v1/merge.proto",
    "hotline/v1/dispatch.proto",
    "hotline/v1/directory.proto",
    "hotline/v1/routing.proto",
    "hotline/v1/dispatch_model.proto",
    "hotline/v1/calendar.proto",
    "hotline/v1/supervision.proto",
    "hotline/v1/metrics.proto",
    "hotline/v1/audit.proto",
    "hotline/v1/webhook.proto",
    "hotline/v1/attachment.proto",
    "hotline/v1/knowledge.proto",
    "hotline/v1/hotspot.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTO_FILES)?;
    fs::write(
        out_dir.join("hotline_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // Maps as `BTreeMap`: encoded in key order, so a request's encoding
    // (and the idempotency fingerprint taken from it) is deterministic.
    tonic_prost_build::configure()
        .btree_map(".")
        .skip_protoc_run()
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
