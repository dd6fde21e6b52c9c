//! The `facteur` binary's library: configuration (`config`), the server wiring (`server`: the
//! engine, the SMTP listeners of `smtp`, the HTTP listener of `facteur-http`), the server TLS
//! certificate (`tls`) and the command line (`cli`). The life of a message is in
//! `facteur-engine`; every HTTP route in `facteur-http`.

pub mod cli;
pub mod config;
pub mod server;
pub mod smtp;
pub mod tls;

pub use facteur_engine::delivery;
pub use facteur_engine::time;
pub use server::{Running, start};
