//! The life of a message, with no HTTP and no listeners: `submit` (the one accept pipeline),
//! the queue's retry policy, the scheduler, delivery, and events turned into webhooks.
//!
//! Modules, leaves first (no module imports one that imports it back):
//! `config`, `metrics`, `time`, `limits`, `io`, `submission`, `verp`, `dnscheck` (leaves) → `render`, `hooks` →
//! `identity` (the key sealer, the DKIM signing hook) → `core` (what every stage shares) →
//! `submit`, `domains`, `inbound`, `senders`, `tracking` → `queue`, `delivery` → `scheduler`, `webhooks` → `engine` (the whole,
//! started) → `auth` (key checks on the engine).

pub mod auth;
pub mod config;
pub mod core;
pub mod delivery;
pub mod dnscheck;
pub mod domains;
pub mod engine;
pub mod hooks;
pub mod identity;
pub mod inbound;
pub mod io;
pub mod limits;
pub mod metrics;
pub mod people;
pub mod queue;
pub mod render;
pub mod scheduler;
pub mod senders;
pub mod submission;
pub mod submit;
pub mod time;
pub mod tracking;
pub mod verp;
pub mod webhooks;

pub use crate::core::Core;
pub use auth::{AuthDenied, SUSPENDED};
pub use engine::{Background, Engine};
pub use submission::{Accepted, Content, Draft, Origin, Problem, Submission, SubmitError};
