//! `facteur`: a self-hosted email platform in one binary.
//!
//! - `cli`: the commands (`serve`, `migrate`, `account`, `queue`, `template`);
//! - `config`: settings from a TOML file, `FACTEUR_*` variables and flags;
//! - `server`: the engine (`facteur-engine`), the SMTP listeners (`smtp`), the HTTP listener
//!   (`facteur-http`) and the server TLS certificate (`tls`), started together.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    facteur::cli::main().await
}
