//! The co-editing rules as pure code (no sockets, no storage): operations on the block
//! document checked against roles, section leases and locks; comments; publish requests.
//! The server (facteur-http) stores what these functions accept and fans it out.

pub mod comments;
pub mod lease;
pub mod ops;
pub mod request;
pub mod sanitize;

pub use facteur_template::blocks::{Block, BlockKind, Column, Document, Lock, Section};
pub use ops::{Actor, Group, Op, Refusal, apply};

/// Imports hand-written MJML into a block document: text that sanitising would change stays
/// verbatim MJML, so the editor never shows unsanitised HTML and nothing is lost.
pub fn import(mjml: &str) -> Document {
    Document::from_mjml(mjml, &sanitize::import_text)
}
