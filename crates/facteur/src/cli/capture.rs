//! `facteur capture list|show|clear`: the messages capture mode kept instead of sending them,
//! read from the database (what `/v3/REST/capture` answers, for every account by default).

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use facteur_store::Store;
use facteur_store::capture::{CaptureFilter, Captured};
use serde_json::{Value, json};

use super::Common;

#[derive(Subcommand)]
pub(super) enum CaptureCommand {
    /// Captured messages (one per recipient), newest first
    List {
        /// Only this account's (its API key) [default: every account]
        #[arg(long)]
        account: Option<String>,
        /// Only those whose recipient or subject contains this (any case)
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// One captured message: who it was for, then its source
    Show {
        id: i64,
        /// Only the source, byte for byte (to save it as a .eml file)
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Remove captured messages
    Clear {
        /// Only this account's (its API key) [default: every account]
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// The account id of an API key, or `None` for every account.
async fn account_of(store: &Store, key: Option<&str>) -> anyhow::Result<Option<i64>> {
    Ok(match key {
        Some(key) => Some(super::account_by_key(store, key).await?.id),
        None => None,
    })
}

fn capture_json(c: &Captured) -> Value {
    json!({
        "id": c.id,
        "account_id": c.account_id,
        "message_id": c.recipient_id,
        "from": c.mail_from,
        "to": c.recipient,
        "subject": c.subject,
        "size": c.size,
        "captured_at": c.captured_at,
    })
}

pub(super) async fn capture(command: CaptureCommand) -> anyhow::Result<ExitCode> {
    match command {
        CaptureCommand::List {
            account,
            search,
            limit,
            json,
            common,
        } => {
            let store = super::open_store(&common).await?;
            let scope = account_of(&store, account.as_deref()).await?;
            let filter = CaptureFilter {
                search,
                limit,
                offset: 0,
            };
            let (rows, total) = store.captures(scope, &filter).await?;
            if json {
                let list: Vec<Value> = rows.iter().map(capture_json).collect();
                println!("{}", Value::Array(list));
            } else if rows.is_empty() {
                println!("no captured message");
            } else {
                for c in &rows {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        c.id,
                        super::fmt_time(c.captured_at),
                        c.recipient,
                        c.subject,
                        c.size
                    );
                }
                if total > rows.len() as i64 {
                    println!("({} of {total}; see --limit)", rows.len());
                }
            }
        }
        CaptureCommand::Show { id, raw, common } => {
            let store = super::open_store(&common).await?;
            let c = store.capture(None, id).await.map_err(|e| match e {
                facteur_store::Error::NotFound => {
                    anyhow::anyhow!("no captured message {id} (see `facteur capture list`)")
                }
                e => e.into(),
            })?;
            let source = c.raw.as_deref().unwrap_or_default();
            let mut out = std::io::stdout().lock();
            if !raw {
                writeln!(
                    out,
                    "captured {}  from <{}>  to <{}>  {} bytes  (message {})\n",
                    super::fmt_time(c.captured_at),
                    c.mail_from,
                    c.recipient,
                    c.size,
                    c.recipient_id
                )?;
            }
            out.write_all(source)?;
        }
        CaptureCommand::Clear { account, common } => {
            let store = super::open_store(&common).await?;
            let scope = account_of(&store, account.as_deref()).await?;
            let n = store.clear_captures(scope).await?;
            println!("removed {n} captured message(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
