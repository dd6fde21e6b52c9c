//! Mailjet's shapes as pure data, with no I/O and no HTTP: the Send API v3.1 request parsed and
//! validated with Mailjet's error codes (`send`), the SMTP relay's `X-MJ-*` headers (`mj_headers`),
//! the options both carry, once (`options`), and events in Mailjet's words (`events`).

pub mod events;
pub mod mj_headers;
pub mod options;
pub mod send;

pub use options::{MailjetOptions, PRIORITY_DEFAULT, TemplateRef, Tracking};
