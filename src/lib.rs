//! `hotline`: the server of the 12345 unified government service hotline.
//!
//! Layers, inner to outer: [`domain`] (the `hotline-domain` crate: pure
//! rules), [`store`] (the `hotline-store` crate: persistence behind one
//! trait, SQLite and PostgreSQL), [`service`] (the use cases), [`api`] (thin
//! tonic services), [`auth`] (JWT), [`blobs`] (attachment bytes in object storage), [`privacy`] (the caller-data keys), [`config`], [`telemetry`] (metrics,
//! readiness, the admin port) and [`app`] (wiring a server that tests can
//! start on port 0). The binary is `crates/cli`, the load
//! generator `crates/bench`.

mod api;
pub mod app;
pub mod auth;
pub mod blobs;
pub mod config;
pub mod demo;
pub mod privacy;
pub mod proto;
pub mod quota;
pub mod report;
pub mod seed;
pub mod service;
pub mod telemetry;
pub mod tls;

/// The domain crate, under the name the server's modules use for it.
pub use hotline_domain as domain;
/// The store crate, under the name the server's modules use for it.
pub use hotline_store as store;
