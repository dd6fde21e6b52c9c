//! SMTP as a protocol, with no sockets, storage or clocks.
//!
//! - [`session::Session`]: the inbound (server) session as a synchronous state machine. Bytes go
//!   in, [`session::Action`]s come out (bytes to write, a TLS upgrade, a credential check, a message
//!   to spool, close). Answers to the asynchronous actions are fed back in with
//!   [`session::Session::auth_result`] and [`session::Session::spool_result`].
//! - [`reply`]: every reply the server sends, named, with its enhanced status code.
//! - [`data`]: the DATA receiver (dot-unstuffing, end-of-data that only `CRLF.CRLF` ends) and body checks.
//! - [`client`]: pieces of the outbound client protocol (dot-stuffing, reply parsing).
//! - [`outbound::OutboundSession`]: one outbound (client) connection as a synchronous state
//!   machine: server bytes and I/O events in, [`outbound::Output`]s out (bytes to write, the
//!   body, a TLS upgrade, close; the server's capabilities, per-recipient transaction results).

pub mod auth;
pub mod client;
pub mod data;
pub mod outbound;
pub mod reply;
pub mod session;

pub use outbound::{
    Capabilities, MailEnvelope, OutboundConfig, OutboundSession, Output, TlsPolicy,
    TransactionOutcome, TransactionResult,
};
pub use reply::Reply;
pub use session::{Action, AuthOutcome, Envelope, PeerInfo, Session, SessionConfig, SpoolOutcome};
