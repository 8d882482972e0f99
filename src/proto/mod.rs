//! Generated protobuf messages and gRPC stubs (`proto/hotline/v1`), and
//! their conversion to and from domain types ([`convert`]).

pub mod convert;

/// Package `hotline.v1`.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::all
)]
pub mod v1 {
    tonic::include_proto!("hotline.v1");
}

/// Encoded file descriptor set of every proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("hotline_descriptor");
