//! Facteur over HTTP: every route in one table (`routes`), one authentication giving a
//! `Principal` and the permission each route needs (`auth`), the Mailjet API modules (`api`),
//! the web app's pages (`web`), and the listener that serves them with bounded resources
//! (`server`). Knows nothing of SMTP.

pub mod api;
pub mod auth;
pub mod collab;
pub mod errors;
pub mod routes;
pub mod server;
pub mod web;

pub use server::{serve, serve_tls};
