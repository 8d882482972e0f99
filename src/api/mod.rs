//! Transport: thin tonic services. Each RPC extracts the principal, converts
//! the request to domain values, calls the domain and the store, and converts
//! back. No SQL and no business rules live here.

pub mod calendar;
pub mod calendar_cell;
pub mod convert;
pub mod directory;
pub mod dispatch;
pub mod error;
pub mod feed;
pub mod metrics;
pub mod paging;
pub mod router_cell;
pub mod routing;
pub mod snapshot;
pub mod streams;
pub mod supervision;
pub mod ticket;
pub mod workflow;

pub use directory::DirectoryApi;
pub use dispatch::DispatchApi;
pub use error::ApiError;
pub use ticket::TicketApi;
pub use workflow::Workflow;
