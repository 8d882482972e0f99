//! Transport: thin tonic services. Each RPC extracts the principal, converts
//! the request to domain values (`crate::proto::convert`), calls the
//! service layer (`crate::service`), and converts back; errors become a
//! `Status` in one place (`error`). No SQL and no business rules live here.

pub(crate) mod alerts;
pub(crate) mod attachments;
pub(crate) mod audit;
pub(crate) mod calendar;
pub(crate) mod directory;
pub(crate) mod dispatch;
pub(crate) mod dispatch_model;
pub(crate) mod error;
pub(crate) mod health;
pub(crate) mod hotspots;
pub(crate) mod idempotency;
pub(crate) mod knowledge;
pub(crate) mod merge;
pub(crate) mod message_limit;
pub(crate) mod metrics;
pub(crate) mod paging;
#[cfg(test)]
mod proptests;
pub(crate) mod routing;
pub(crate) mod streams;
pub(crate) mod supervision;
pub(crate) mod ticket;
pub(crate) mod webhook;

pub(crate) use directory::DirectoryApi;
pub(crate) use dispatch::DispatchApi;
pub(crate) use ticket::TicketApi;
