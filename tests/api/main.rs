//! End-to-end tests through the generated gRPC clients against a real server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test harness code: a panic is a test failure

mod attachment_client;
mod attachments;
mod attachments_s3;
mod auth;
mod bad_requests;
mod callback;
mod concurrency;
mod deadlines;
mod demo;
mod directory;
mod dispatch_model;
mod duplicates;
mod edges;
mod faults;
mod helpers;
mod hotspot_alerts;
mod hotspot_client;
mod hotspot_replicas;
mod hotspots;
mod key_rotation;
mod knowledge;
mod knowledge_client;
mod knowledge_index;
mod knowledge_metrics;
mod knowledge_retries;
mod lifecycle;
mod listing;
mod merge;
mod metrics;
mod metrics_audit;
mod model_training;
mod nul_bytes;
mod ops;
mod pii_audit;
mod privacy;
mod quota;
mod regions;
mod retired_units;
mod retries;
mod returns;
mod routing;
mod server;
mod supervision;
#[path = "../support/test_key.rs"]
mod test_key;
mod ticket_cache;
mod tls;
mod validation;
mod watch;
mod webhooks;
