//! The `facteur` command line: `serve`, `migrate`, `account`, `queue`, `template`, `domain`,
//! `bounce`, `stats`, `capture`.

mod capture;
pub mod identity;
mod stats;
pub mod template;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, Settings};
use anyhow::Context;
use clap::{Parser, Subcommand};
use facteur_engine::time::now_ms;
use facteur_store::Store;

#[derive(Parser)]
#[command(
    name = "facteur",
    version,
    about = "Self-hosted email platform: SMTP relay, durable queue, delivery"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// TOML configuration file (keys as the long flags, with _ for -)
    #[arg(long, env = "FACTEUR_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (creates the data directory, database and a first account if needed)
    Serve {
        /// Validate the configuration, print every problem, and exit
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Create or upgrade the database schema and exit
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Manage accounts (API key + secret key)
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Inspect and act on the delivery queue
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Work on templates (Mailjet templating language, MJML) from the command line
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
    },
    /// Sending domains: DKIM keys, the DNS records to publish, key rotation
    Domain {
        #[command(subcommand)]
        command: identity::DomainCommand,
    },
    /// Mail that comes back: read a bounce or complaint as Facteur does
    Bounce {
        #[command(subcommand)]
        command: identity::BounceCommand,
    },
    /// Statistics: sent, bounced, opened, clicked, spam, unsubscribed by day, hour or
    /// recipient domain, with open and click rates
    Stats(Box<stats::StatsArgs>),
    /// Capture mode (--capture): the messages kept instead of sent
    Capture {
        #[command(subcommand)]
        command: capture::CaptureCommand,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Render a template (.mjml is compiled to HTML first) with test values; prints the result
    Render {
        file: PathBuf,
        /// JSON test values, inline or the path of a file holding them:
        /// {"Variables": {...}, "data": {...}} or a flat object of variables
        #[arg(long)]
        vars: Option<PathBuf>,
        /// Render as a text part or subject (no HTML escaping of values)
        #[arg(long)]
        text: bool,
        /// Only compile the MJML to HTML, without the templating language: for a file that
        /// carries another tool's placeholders ({{FirstName}}), kept as they are
        #[arg(long, conflicts_with_all = ["vars", "text"])]
        mjml_only: bool,
        /// MJML validation as node mjml's validationLevel: strict (refuse), soft (warn) or skip
        #[arg(long, default_value = "soft")]
        validation: facteur_template::mjml_validate::Level,
    },
    /// Check templates: MJML and language errors with positions, variables without defaults,
    /// and content advice on the HTML (calls to action, text/image ratio, alt texts, links…)
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The subject, for the subject and preheader advice
        #[arg(long)]
        subject: Option<String>,
        /// The template's language (en, fr…): the words its buttons should start with
        #[arg(long)]
        locale: Option<String>,
        /// A marketing email: it needs an unsubscribe link
        #[arg(long)]
        marketing: bool,
        /// Domains no link may point to (comma-separated)
        #[arg(long, value_delimiter = ',')]
        blocklist: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account; prints its API key and secret key (the secret is shown only once)
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List accounts
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Turn sender validation on or off for an account: with it on, mail may only come from
    /// its validated senders (/v3/REST/sender) and verified domains
    Senders {
        /// The account's API key
        api_key: String,
        /// on or off
        state: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Messages waiting for delivery
    List {
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// A message with its recipients and every event
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Make a message due for delivery now
    Retry {
        id: i64,
        #[command(flatten)]
        common: Common,
    },
    /// Remove a message from the queue (its pending recipients become `deleted`)
    Delete {
        id: i64,
        #[command(flatten)]
        common: Common,
    },
}

fn load(common: &Common) -> Result<Config, Vec<String>> {
    let file = match &common.config {
        Some(path) => Settings::from_file(path).map_err(|e| vec![e])?,
        None => Settings::default(),
    };
    crate::config::resolve(common.settings.clone().over(file))
}

fn config_or_exit(common: &Common) -> anyhow::Result<Config> {
    load(common).map_err(|problems| {
        anyhow::anyhow!("invalid configuration:\n  - {}", problems.join("\n  - "))
    })
}

async fn open_store(common: &Common) -> anyhow::Result<Store> {
    let cfg = config_or_exit(common)?;
    Store::open(&cfg.database)
        .await
        .with_context(|| format!("opening the database {}", cfg.database))
}

fn fmt_time(ms: i64) -> String {
    facteur_message::rfc5322_date(ms / 1000)
}

/// Reads the command line and runs it; logs go to standard error (`FACTEUR_LOG` filters them).
pub async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FACTEUR_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            check: true,
            common,
        } => match load(&common) {
            Ok(_) => {
                println!("configuration OK");
                Ok(ExitCode::SUCCESS)
            }
            Err(problems) => {
                eprintln!("{} problem(s) in the configuration:", problems.len());
                for p in problems {
                    eprintln!("  - {p}");
                }
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Serve {
            check: false,
            common,
        } => serve(config_or_exit(&common)?).await,
        Command::Migrate { common } => {
            let cfg = config_or_exit(&common)?;
            Store::open(&cfg.database).await?;
            println!("database {} is up to date", cfg.database);
            Ok(ExitCode::SUCCESS)
        }
        Command::Account { command } => account(command).await,
        Command::Queue { command } => queue(command).await,
        Command::Template { command } => Ok(template(command)),
        Command::Domain { command } => identity::domain(command).await,
        Command::Bounce { command } => identity::bounce(command).await,
        Command::Stats(args) => stats::stats(*args).await,
        Command::Capture { command } => capture::capture(command).await,
    }
}

async fn serve(cfg: Config) -> anyhow::Result<ExitCode> {
    // A first account on a fresh install, so the first message can be sent right away.
    let store = Store::open(&cfg.database)
        .await
        .with_context(|| format!("opening the database {}", cfg.database))?;
    let first = if store.list_accounts().await?.is_empty() {
        Some(store.create_account("default", now_ms()).await?)
    } else {
        None
    };
    drop(store);
    let running = crate::server::start(cfg, None).await?;
    let mut out = std::io::stdout().lock();
    for (kind, addr) in &running.listeners {
        writeln!(out, "listening {}={addr}", kind.name())?;
    }
    writeln!(out, "listening http={}", running.http)?;
    if let Some(https) = running.https {
        writeln!(out, "listening https={https}")?;
    }
    let cfg = &running.app.cfg;
    writeln!(
        out,
        "database {} ; TLS certificate {}",
        cfg.database, running.tls_description
    )?;
    if cfg.capture {
        writeln!(
            out,
            "capture mode: nothing leaves this machine; captured messages at {}/v3/REST/capture (or `facteur capture list`)",
            running.app.public_url
        )?;
    }
    if let Some((account, secret)) = &first {
        writeln!(
            out,
            "\nFirst start: created account \"default\". Keep these; the secret key is not shown again."
        )?;
        writeln!(out, "  api_key    = {}", account.api_key)?;
        writeln!(out, "  secret_key = {secret}")?;
        if let Some((kind, addr)) = running.listeners.iter().find(|(k, _)| k.name() == "smtp") {
            let _ = kind;
            writeln!(out, "\nSend a first message (STARTTLS + AUTH):")?;
            writeln!(
                out,
                "  swaks --server {addr} --tls --auth-user {} --auth-password {secret} --from you@example.com --to someone@example.net",
                account.api_key
            )?;
        }
        if cfg.relay_host.is_none() && !cfg.capture {
            writeln!(
                out,
                "Mail is delivered to each domain's MX hosts; with no Internet access, pass --relay-host HOST:PORT."
            )?;
        }
    }
    // The web app: a one-time link creating the owner while no one can sign in.
    match running.app.owner_link(now_ms()).await {
        Ok(Some(token)) => writeln!(
            out,
            "\nWeb app: {url}/app\nNo one can sign in yet. Create the owner with this one-time link (valid 24 hours; each start prints a new one until the owner exists):\n  {url}/app/setup/{token}",
            url = running.app.public_url
        )?,
        Ok(None) => writeln!(out, "Web app: {}/app", running.app.public_url)?,
        Err(e) => writeln!(out, "Web app: cannot make the owner's link: {e}")?,
    }
    // Say which accounts send from any address (sender validation off).
    let open: Vec<String> = running
        .app
        .store
        .list_accounts()
        .await?
        .into_iter()
        .filter(|a| !running.app.senders.enforces(a.id))
        .map(|a| format!("{:?} ({})", a.name, a.api_key))
        .collect();
    if !open.is_empty() {
        writeln!(
            out,
            "Sender validation is off for {}: any From address may be used. Validate senders (POST /v3/REST/sender) or domains (POST /v3/REST/dns/{{id}}/check), then turn it on with `facteur account senders API_KEY on`.",
            open.join(", ")
        )?;
    }
    if let Some(b) = &cfg.bounce_domain {
        writeln!(
            out,
            "Bounces and complaints come back to {b} (its MX must be this server's relay listener)."
        )?;
    }
    writeln!(
        out,
        "Inspect the queue with `facteur queue list`. Ctrl-C stops the server."
    )?;
    drop(out);
    shutdown_signal().await;
    eprintln!("shutting down");
    running.stop().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn template(command: TemplateCommand) -> ExitCode {
    use self::template as template_cli;
    match command {
        TemplateCommand::Render {
            file,
            vars,
            text,
            mjml_only,
            validation,
        } => {
            let rendered = if mjml_only {
                template_cli::compile_only(&file, validation)
            } else {
                template_cli::render(&file, vars.as_deref(), text, validation)
            };
            match rendered {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        TemplateCommand::Check {
            files,
            subject,
            locale,
            marketing,
            blocklist,
        } => {
            let mut failed = false;
            let advice = template_cli::AdviceOptions {
                subject,
                locale,
                marketing,
                blocklist,
            };
            for file in files {
                let (report, errors) = template_cli::check(&file, &advice);
                for line in report {
                    println!("{line}");
                }
                failed |= errors;
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

async fn account(command: AccountCommand) -> anyhow::Result<ExitCode> {
    match command {
        AccountCommand::Create { name, json, common } => {
            let store = open_store(&common).await?;
            let (account, secret) = store.create_account(&name, now_ms()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": account.id, "name": account.name, "api_key": account.api_key, "secret_key": secret})
                );
            } else {
                println!(
                    "created account {:?}\n  api_key    = {}\n  secret_key = {secret}\n(the secret key is not shown again)",
                    account.name, account.api_key
                );
            }
        }
        AccountCommand::Senders {
            api_key,
            state,
            common,
        } => {
            let on = match state.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" => true,
                "off" | "false" | "no" => false,
                other => anyhow::bail!("state {other:?}: say on or off"),
            };
            let store = open_store(&common).await?;
            let account = account_by_key(&store, &api_key).await?;
            store.set_enforce_senders(account.id, on).await?;
            println!(
                "sender validation is {} for {:?} (running servers apply it within a minute)",
                if on { "on" } else { "off" },
                account.name
            );
        }
        AccountCommand::List { json, common } => {
            let store = open_store(&common).await?;
            let accounts = store.list_accounts().await?;
            if json {
                let list: Vec<_> = accounts
                    .iter()
                    .map(|a| serde_json::json!({"id": a.id, "name": a.name, "api_key": a.api_key, "created_at": a.created_at}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for a in accounts {
                    println!("{}\t{}\t{}", a.api_key, a.name, fmt_time(a.created_at));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn queue(command: QueueCommand) -> anyhow::Result<ExitCode> {
    match command {
        QueueCommand::List {
            limit,
            json,
            common,
        } => {
            let store = open_store(&common).await?;
            let rows = store.list_queue(limit).await?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|(id, domain, attempts, next, pending)| {
                        serde_json::json!({"message_id": id, "domain": domain, "attempts": attempts, "next_attempt_at": next, "pending_recipients": pending})
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if rows.is_empty() {
                println!("the queue is empty");
            } else {
                println!(
                    "{:<20} {:<30} {:>8} {:>7}  next attempt",
                    "message", "domain", "attempts", "pending"
                );
                for (id, domain, attempts, next, pending) in rows {
                    println!(
                        "{id:<20} {domain:<30} {attempts:>8} {pending:>7}  {}",
                        fmt_time(next)
                    );
                }
            }
        }
        QueueCommand::Show { id, json, common } => {
            let store = open_store(&common).await?;
            let info = match store.message(id).await {
                Err(facteur_store::Error::NotFound) => {
                    anyhow::bail!("no message {id} (see `facteur queue list`)")
                }
                other => other?,
            };
            if json {
                let v = serde_json::json!({
                    "id": info.id, "account_id": info.account_id, "mail_from": info.mail_from, "size": info.size,
                    "created_at": info.created_at,
                    "recipients": info.recipients.iter().map(|r| serde_json::json!({"address": r.address, "status": r.status.as_str(), "last_reply": r.last_reply, "updated_at": r.updated_at})).collect::<Vec<_>>(),
                    "queue": info.queue.iter().map(|(d, a, n)| serde_json::json!({"domain": d, "attempts": a, "next_attempt_at": n})).collect::<Vec<_>>(),
                    "events": info.events.iter().map(|e| serde_json::json!({"at": e.at, "recipient": e.recipient, "event": e.kind.as_str(), "detail": e.detail})).collect::<Vec<_>>(),
                });
                println!("{v}");
            } else {
                println!(
                    "message {}  from <{}>  {} bytes  received {}",
                    info.id,
                    info.mail_from,
                    info.size,
                    fmt_time(info.created_at)
                );
                println!("recipients:");
                for r in &info.recipients {
                    println!(
                        "  {:<40} {:<9} {}",
                        r.address,
                        r.status.as_str(),
                        r.last_reply.as_deref().unwrap_or("")
                    );
                }
                for (domain, attempts, next) in &info.queue {
                    println!(
                        "queued for {domain}: {attempts} attempt(s), next {}",
                        fmt_time(*next)
                    );
                }
                println!("events:");
                for e in &info.events {
                    println!(
                        "  {}  {:<9} {:<40} {}",
                        fmt_time(e.at),
                        e.kind.as_str(),
                        e.recipient.as_deref().unwrap_or(""),
                        e.detail
                    );
                }
            }
        }
        QueueCommand::Retry { id, common } => {
            let store = open_store(&common).await?;
            match store.retry_now(id, now_ms()).await {
                Ok(n) => println!(
                    "message {id}: {n} queue entr{} due now",
                    if n == 1 { "y" } else { "ies" }
                ),
                Err(facteur_store::Error::NotFound) => {
                    anyhow::bail!("message {id} is not in the queue")
                }
                Err(e) => return Err(e.into()),
            }
        }
        QueueCommand::Delete { id, common } => {
            let store = open_store(&common).await?;
            match store.delete_from_queue(id, now_ms()).await {
                Ok(n) => println!(
                    "message {id} removed from the queue ({n} recipient(s) marked deleted)"
                ),
                Err(facteur_store::Error::NotFound) => {
                    anyhow::bail!("message {id} is not in the queue")
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The account of an API key, or an error saying where to find the keys.
async fn account_by_key(
    store: &facteur_store::Store,
    key: &str,
) -> anyhow::Result<facteur_store::Account> {
    store.account_by_key(key).await?.ok_or_else(|| {
        anyhow::anyhow!("no account has the API key {key} (see `facteur account list`)")
    })
}
