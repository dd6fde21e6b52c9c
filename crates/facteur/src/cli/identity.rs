//! `facteur domain …` (sending domains and their DKIM keys) and `facteur bounce …` (how a
//! message that came back is read; what the bounce domain received).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use facteur_engine::Engine;
use facteur_engine::identity::KeySet;
use facteur_engine::time::now_ms;
use facteur_message::outcome::Severity;
use facteur_message::report::{self, ReportKind};
use facteur_store::identity::Domain;
use serde_json::{Value, json};

use super::{Common, config_or_exit};

#[derive(Subcommand)]
pub(super) enum DomainCommand {
    /// Add a sending domain: generates its DKIM keys and prints the DNS records to publish
    Add {
        domain: String,
        /// The API key of the account that sends from it
        #[arg(long)]
        account: String,
        /// rsa (2048-bit, the default), ed25519, or both (every message signed twice)
        #[arg(long, default_value = "rsa")]
        keys: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// A domain's keys and the records to publish
    Show {
        domain: String,
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Look the domain's records up in DNS: each one's status (OK, Not found, Error) and value
    Check {
        domain: String,
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Key rotation, step 1: new keys under a new selector, pending until `activate`
    Rotate {
        domain: String,
        #[arg(long)]
        account: String,
        #[arg(long, default_value = "rsa")]
        keys: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Key rotation, step 2 (once the new records are published): the new keys sign, the old
    /// ones retire
    Activate {
        domain: String,
        #[arg(long)]
        account: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
pub(super) enum BounceCommand {
    /// Read a message as the bounce domain would (DSN, provider bounce text, ARF complaint,
    /// auto-reply) and print what it says as JSON
    Parse { file: PathBuf },
    /// Mail received at the bounce domain, newest first, with what was made of it
    List {
        /// Only what changed nothing (kept for reading: unmatched, auto-replies, people)
        #[arg(long)]
        unhandled: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// One received message: what was made of it, and its source when it was kept
    Show {
        id: i64,
        #[command(flatten)]
        common: Common,
    },
}

fn print_domain(engine: &Engine, d: &Domain, json: bool) {
    let records = engine.records(d);
    if json {
        let v = json!({
            "id": d.id,
            "domain": d.name,
            "keys": d.keys.iter().map(|k| json!({"selector": k.selector, "algorithm": k.algorithm, "state": k.state.as_str()})).collect::<Vec<_>>(),
            "records": records.iter().map(|r| json!({"type": r.kind, "name": r.name, "value": r.value, "purpose": r.purpose})).collect::<Vec<_>>(),
        });
        println!("{v}");
        return;
    }
    println!("domain {} (id {})", d.name, d.id);
    for k in &d.keys {
        println!(
            "  key {} ({}, {})",
            k.selector,
            k.algorithm,
            k.state.as_str()
        );
    }
    println!("publish these DNS records:");
    for r in &records {
        println!(
            "  {} {}\n      {}\n      ({})",
            r.kind, r.name, r.value, r.purpose
        );
    }
}

fn key_set(keys: &str) -> anyhow::Result<KeySet> {
    KeySet::parse(keys).ok_or_else(|| anyhow::anyhow!("--keys {keys:?}: use rsa, ed25519 or both"))
}

pub(super) async fn domain(command: DomainCommand) -> anyhow::Result<ExitCode> {
    let (common, account, name) = match &command {
        DomainCommand::Add {
            common,
            account,
            domain,
            ..
        }
        | DomainCommand::Show {
            common,
            account,
            domain,
            ..
        }
        | DomainCommand::Rotate {
            common,
            account,
            domain,
            ..
        }
        | DomainCommand::Check {
            common,
            account,
            domain,
            ..
        }
        | DomainCommand::Activate {
            common,
            account,
            domain,
            ..
        } => (common.clone(), account.clone(), domain.clone()),
    };
    let mut cfg = config_or_exit(&common)?;
    // A command, not a node: no scheduler, no DNS for delivery.
    cfg.scheduler = false;
    cfg.relay_host = Some(("localhost".into(), 25));
    let engine = Engine::open(cfg, None, String::new())
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let Some(acc) = engine.store.account_by_key(&account).await? else {
        eprintln!("{account} is not an API key of this server (see `facteur account list`)");
        return Ok(ExitCode::FAILURE);
    };
    let found = |e: facteur_store::Error| match e {
        facteur_store::Error::NotFound => {
            anyhow::anyhow!(
                "{name} is not a domain of this account (add it with `facteur domain add`)"
            )
        }
        other => other.into(),
    };
    let (d, json) = match command {
        DomainCommand::Add { keys, json, .. } => (
            engine
                .add_domain(acc.id, &name, key_set(&keys)?, now_ms())
                .await?,
            json,
        ),
        DomainCommand::Show { json, .. } => (
            engine
                .store
                .domain_by_name(acc.id, &name)
                .await
                .map_err(found)?,
            json,
        ),
        DomainCommand::Rotate { keys, json, .. } => {
            let d = engine
                .store
                .domain_by_name(acc.id, &name)
                .await
                .map_err(found)?;
            (
                engine
                    .rotate_domain(acc.id, d.id, key_set(&keys)?, now_ms())
                    .await?,
                json,
            )
        }
        DomainCommand::Activate { json, .. } => {
            let d = engine
                .store
                .domain_by_name(acc.id, &name)
                .await
                .map_err(found)?;
            (engine.activate_keys(acc.id, d.id).await?, json)
        }
        DomainCommand::Check { json, .. } => {
            let d = engine
                .store
                .domain_by_name(acc.id, &name)
                .await
                .map_err(found)?;
            eprintln!("looking up the records of {} in DNS…", d.name);
            let (_, result) = engine.check_domain(acc.id, d.id, now_ms()).await?;
            if json {
                println!("{result}");
            } else {
                print_check(&d.name, &result);
            }
            let ok = result["DKIMStatus"] == "OK"
                && result["SPFStatus"] == "OK"
                && (result["ReturnPathStatus"] == "OK" || result["ReturnPathStatus"] == "Not used");
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
    };
    print_domain(&engine, &d, json);
    Ok(ExitCode::SUCCESS)
}

/// A check as a table: one line per record, then what is wrong.
fn print_check(domain: &str, result: &Value) {
    println!(
        "{domain}: DKIM {}, SPF {}, DMARC {}, return path {}{}",
        result["DKIMStatus"].as_str().unwrap_or("?"),
        result["SPFStatus"].as_str().unwrap_or("?"),
        result["DMARCStatus"].as_str().unwrap_or("?"),
        result["ReturnPathStatus"].as_str().unwrap_or("?"),
        if result["Verified"] == true {
            " (verified)"
        } else {
            ""
        }
    );
    for r in result["Records"].as_array().into_iter().flatten() {
        println!(
            "  {:<10} {:<5} {:<45} {}",
            r["Status"].as_str().unwrap_or(""),
            r["Type"].as_str().unwrap_or(""),
            r["Name"].as_str().unwrap_or(""),
            r["Purpose"].as_str().unwrap_or("")
        );
        if r["Status"] != "OK" {
            println!(
                "             publish: {}",
                r["Expected"].as_str().unwrap_or("")
            );
        }
        for e in r["Errors"].as_array().into_iter().flatten() {
            println!("             {}", e.as_str().unwrap_or(""));
        }
    }
}

/// What `bounce parse` prints.
pub fn report_json(r: &report::Report) -> Value {
    let kind = |k: ReportKind| match k {
        ReportKind::Bounce => "bounce",
        ReportKind::Complaint => "complaint",
        ReportKind::AutoReply => "auto-reply",
        ReportKind::NotABounce => "not-a-bounce",
    };
    let recipients: Vec<Value> = r
        .failures
        .iter()
        .map(|f| {
            let (related, error) = facteur_mailjet::events::error_of(f.class);
            json!({
                "recipient": f.address,
                "kind": match f.severity() {
                    Severity::Hard => "hard",
                    Severity::Soft => "soft",
                    Severity::Policy => "policy",
                },
                "action": match f.action {
                    report::Action::Failed => "failed",
                    report::Action::Delayed => "delayed",
                },
                "status": f.status,
                "class": f.class.as_str(),
                "error_related_to": related,
                "error": error,
                "remote_mta": f.remote_mta,
                "remote_reply": f.diagnostic,
            })
        })
        .collect();
    // The kind of the whole message: a bounce's is its first recipient's (hard, soft, policy).
    let top = match r.kind {
        ReportKind::Bounce => recipients
            .first()
            .and_then(|v| v["kind"].as_str())
            .unwrap_or("hard")
            .to_string(),
        other => kind(other).to_string(),
    };
    let first = recipients.first().cloned().unwrap_or(Value::Null);
    json!({
        "kind": top,
        "recipient": first.get("recipient").cloned().unwrap_or_else(|| json!(r.complaint.as_ref().and_then(|c| c.recipient.clone()))),
        "status": first.get("status").cloned().unwrap_or(Value::Null),
        "error_related_to": first.get("error_related_to").cloned().unwrap_or(Value::Null),
        "error": first.get("error").cloned().unwrap_or(Value::Null),
        "remote_reply": first.get("remote_reply").cloned().unwrap_or(Value::Null),
        "recipients": recipients,
        "complaint": r.complaint.as_ref().map(|c| json!({
            "feedback_type": c.feedback_type,
            "recipient": c.recipient,
            "source": c.source,
            "source_ip": c.source_ip,
        })),
        "addressed_to": r.addressed_to,
        "original_message_id": r.original_message_id,
    })
}

pub(super) async fn bounce(command: BounceCommand) -> anyhow::Result<ExitCode> {
    match command {
        BounceCommand::Parse { file } => {
            let raw = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let r = report::parse(&raw);
            println!("{}", serde_json::to_string_pretty(&report_json(&r))?);
            Ok(ExitCode::SUCCESS)
        }
        BounceCommand::List {
            unhandled,
            limit,
            json,
            common,
        } => {
            let store = super::open_store(&common).await?;
            let reports = store.inbound_reports(unhandled, limit, 0).await?;
            if json {
                let list: Vec<Value> = reports.iter().map(inbound_json).collect();
                println!("{}", Value::Array(list));
            } else if reports.is_empty() {
                println!("no mail received at the bounce domain");
            } else {
                for r in &reports {
                    println!(
                        "{}\t{}\t{}\t{}{}",
                        r.id,
                        super::fmt_time(r.received_at),
                        r.kind,
                        r.outcome,
                        if r.raw.is_some() { " [kept]" } else { "" }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        BounceCommand::Show { id, common } => {
            let store = super::open_store(&common).await?;
            let r = store.inbound_report(id).await.map_err(|e| match e {
                facteur_store::Error::NotFound => {
                    anyhow::anyhow!("no received message {id} (see `facteur bounce list`)")
                }
                e => e.into(),
            })?;
            println!("{}", serde_json::to_string_pretty(&inbound_json(&r))?);
            if let Some(raw) = &r.raw {
                println!("\n{}", String::from_utf8_lossy(raw));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn inbound_json(r: &facteur_store::inbound::InboundReport) -> Value {
    json!({
        "id": r.id,
        "received_at": super::fmt_time(r.received_at),
        "peer": r.peer,
        "mail_from": r.mail_from,
        "rcpt_to": r.rcpt_to,
        "kind": r.kind,
        "outcome": r.outcome,
        "account_id": r.account_id,
        "message_id": r.message_id,
        "recipient_id": r.recipient_id,
        "kept": r.raw.is_some(),
    })
}
