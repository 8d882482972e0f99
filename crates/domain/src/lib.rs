//! Pure domain logic of the 12345 hotline: no tonic, no sqlx, no clock reads.
//!
//! Everything here is deterministic given its inputs (time is passed in), so it
//! is unit- and property-tested without a server or a database.

pub mod access;
pub mod attachment;
pub mod calendar;
pub mod clock;
pub mod directory;
pub mod duplicates;
pub mod error;
pub mod event;
pub mod hotspot;
pub mod ids;
pub mod knowledge;
pub mod lifecycle;
pub mod metrics;
pub mod person;
pub mod routing;
pub mod text_enum;
pub mod ticket;
pub mod timelimit;
pub mod webhook;

pub use access::{Principal, Role};
pub use clock::{Clock, MockClock, SystemClock};
pub use error::DomainError;
pub use event::EventKind;
pub use ids::{RegionCode, SubjectCode, TicketId, UnitId};
pub use lifecycle::{Action, Transition};
pub use person::{Caller, PersonName, PhoneNumber};
pub use ticket::{Ticket, TicketEvent, TicketState};
