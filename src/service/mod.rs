//! The use cases: what the hotline does, apart from how it is called. The
//! gRPC services (`crate::api`), the CLI and the load generator call these;
//! they take domain values and a principal, and return domain values or a
//! [`ServiceError`].
//!
//! - [`attachments`]: files of tickets, their bytes in object storage;
//! - [`workflow`]: every ticket write (intake, verbs, sweeper) and the
//!   policies they apply;
//! - [`feed`]: the live feed of committed events;
//! - [`catalogue`]: the dispatch catalogue (validate, publish, import);
//! - [`router_cell`], [`calendar_cell`]: the routing rules and working-day
//!   calendar in force, swapped whole when a new version is published;
//! - [`dispatch_model`], [`model_cell`]: the learned dispatch suggestion's
//!   versions (train, activate, roll back) and the one in force;
//! - [`privacy`]: the PII access log and re-sealing caller data;
//! - [`instruments`]: the operational metrics the use cases record;
//! - [`regions`]: the region codes the directory holds, which every
//!   ticket's region is checked against;
//! - [`hotspots`]: the hotspot detector each replica runs, the centre's
//!   decisions on what it finds and the live stream of them;
//! - [`knowledge`]: knowledge-base articles, their review, search and
//!   the index each replica keeps;
//! - [`webhooks`]: subscriptions and the worker delivering events to them;
//! - `retention`: purging rows past their retention period, in batches.

pub mod attachments;
pub mod calendar_cell;
pub mod catalogue;
pub mod directory;
pub mod dispatch_model;
pub mod error;
pub mod feed;
pub mod hotspots;
pub mod instruments;
pub mod knowledge;
pub mod metrics;
pub mod model_cell;
pub mod model_training;
pub mod privacy;
pub mod regions;
mod retention;
pub mod router_cell;
mod snapshot;
pub mod webhooks;
pub mod workflow;

pub use error::ServiceError;
pub use workflow::Workflow;
