//! `facteur`: a self-hosted email platform in one binary.
//!
//! - `cli`: the commands (`serve`, `migrate`, `account`, `queue`, `template`);
//! - `config`: settings from a TOML file, `FACTEUR_*` variables and flags;
//! - `server`: the engine (`facteur-engine`), the SMTP listeners (`smtp`), the HTTP listener
//!   (`facteur-http`) and the server TLS certificate (`tls`), started together.

/// mimalloc: MJML compiling, template rendering and the HTTP and SMTP paths allocate many
/// small, short-lived buffers, which it serves faster than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    facteur::cli::main().await
}
