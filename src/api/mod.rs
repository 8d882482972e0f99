//! Transport: thin tonic services. Each RPC extracts the principal, converts
//! the request to domain values (`crate::proto::convert`), calls the
//! service layer (`crate::service`), and converts back; errors become a
//! `Status` in one place (`error`). No SQL and no business rules live here.

pub mod calendar;
pub mod directory;
pub mod dispatch;
pub mod error;
pub mod metrics;
pub mod paging;
pub mod routing;
pub mod streams;
pub mod supervision;
pub mod ticket;

pub use directory::DirectoryApi;
pub use dispatch::DispatchApi;
pub use ticket::TicketApi;
