//! Facteur's server: the wiring around the pure crates. The flow of a message, in module order:
//! `smtp_server` (listeners, sessions) → `app` (accept: trace headers, durable spool) →
//! `scheduler` (claims due rows, retries, DSNs) → `delivery` (routes, outbound SMTP) — with
//! `queue` (the retry policy), `config`, `tls`, `http` (health, metrics) and `metrics` beside.

pub mod api;
pub mod app;
pub mod config;
pub mod delivery;
pub mod http;
pub mod io;
pub mod limits;
pub mod metrics;
pub mod queue;
pub mod scheduler;
pub mod sending;
pub mod smtp_server;
pub mod template_cli;
pub mod time;
pub mod tls;
pub mod webhooks;
