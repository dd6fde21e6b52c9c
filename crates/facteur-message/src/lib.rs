//! Message content, with no I/O: the trace and identity headers Facteur adds on acceptance
//! (Received, Message-ID, Date when missing) and delivery status notifications (RFC 3464).

pub mod compose;
pub mod dkim;
pub mod dsn;
pub mod headers;
pub mod limits;
pub mod outcome;
pub mod report;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tracking;
pub mod view;

pub use dsn::{Dsn, DsnAction, DsnRecipient, build_dsn};
pub use headers::{
    ReceivedInfo, field_name, fields, header_mailboxes, header_section, header_value,
    normalize_on_accept, rfc5322_date,
};
