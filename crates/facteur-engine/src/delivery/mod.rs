//! Delivery: one attempt for one queue row (one message, one recipient domain), behind the
//! [`Deliverer`] trait. [`SmtpDeliverer`] finds the route (relay host or MX), reuses idle
//! connections, and turns the replies into a per-recipient outcome. It knows nothing of the
//! queue's schedule, nor of concurrency: the scheduler runs at most `destination_concurrency`
//! attempts per [`Destination::site`] at once. [`capture::CaptureDeliverer`] (capture mode)
//! keeps each message in the store instead of sending it.

pub mod capture;
pub mod client;
pub mod mx;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use facteur_store::{BounceClass, QueueEntry, RcptOutcome, RcptStatus, Recipient, RemoteReply};

use client::{SmtpClient, format_reply};
use mx::{Resolver, Route};

/// How long an idle outbound connection is kept for the next message to the same host.
const IDLE_KEEP: Duration = Duration::from_secs(30);

/// A future a [`Deliverer`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a queue row's recipients go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The deliveries that share one concurrency limit: the first MX host (or the relay host)
    /// and its port. Domains hosted on one provider share its site.
    pub site: String,
    /// Hosts to try in order.
    pub hosts: Vec<String>,
    pub port: u16,
}

/// How a message leaves: SMTP to the recipients' mail servers (or a relay host) in production;
/// into the store in capture mode ([`capture::CaptureDeliverer`]), for development.
pub trait Deliverer: Send + Sync {
    /// Where the entry goes, or every recipient's outcome when it cannot go anywhere (null MX,
    /// no such domain, a DNS failure).
    fn route<'a>(
        &'a self,
        entry: &'a QueueEntry,
    ) -> BoxFuture<'a, Result<Destination, Vec<RcptOutcome>>>;

    /// One attempt to deliver the entry's pending recipients to `to`.
    fn deliver<'a>(
        &'a self,
        entry: &'a QueueEntry,
        to: &'a Destination,
        body: &'a [u8],
    ) -> BoxFuture<'a, Vec<RcptOutcome>>;
}

pub struct DeliverySettings {
    /// VERP envelope senders (`bounce_domain`); `None`: the message's own sender.
    pub return_paths: Option<Arc<crate::verp::Verp>>,
    pub hostname: String,
    pub relay_host: Option<(String, u16)>,
    pub mx_port: u16,
    pub timeout: Duration,
    /// Most idle connections kept per host (`destination_concurrency`: as many as may be busy).
    pub idle_per_host: usize,
}

pub struct SmtpDeliverer {
    settings: DeliverySettings,
    resolver: Resolver,
    tls: Arc<rustls::ClientConfig>,
    idle: Mutex<HashMap<String, Vec<(SmtpClient, Instant)>>>,
}

impl Deliverer for SmtpDeliverer {
    fn route<'a>(
        &'a self,
        entry: &'a QueueEntry,
    ) -> BoxFuture<'a, Result<Destination, Vec<RcptOutcome>>> {
        Box::pin(self.route(entry))
    }

    fn deliver<'a>(
        &'a self,
        entry: &'a QueueEntry,
        to: &'a Destination,
        body: &'a [u8],
    ) -> BoxFuture<'a, Vec<RcptOutcome>> {
        Box::pin(self.deliver(entry, to, body))
    }
}

impl SmtpDeliverer {
    pub fn new(settings: DeliverySettings, resolver: Resolver) -> SmtpDeliverer {
        SmtpDeliverer {
            settings,
            resolver,
            tls: tls::opportunistic_client_config(),
            idle: Mutex::new(HashMap::new()),
        }
    }

    fn take_idle(&self, key: &str) -> Option<SmtpClient> {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.get_mut(key)?;
        while let Some((client, since)) = list.pop() {
            if since.elapsed() < IDLE_KEEP {
                return Some(client);
            }
        }
        None
    }

    fn keep_idle(&self, key: &str, client: SmtpClient) {
        let mut idle = self.idle.lock().unwrap();
        let list = idle.entry(key.to_string()).or_default();
        list.retain(|(_, since)| since.elapsed() < IDLE_KEEP);
        if list.len() < self.settings.idle_per_host {
            list.push((client, Instant::now()));
        }
    }

    async fn route(&self, entry: &QueueEntry) -> Result<Destination, Vec<RcptOutcome>> {
        let (hosts, port) = match &self.settings.relay_host {
            Some((host, port)) => (vec![host.clone()], *port),
            None => match self.resolver.route(&entry.domain).await {
                Ok(Route::Hosts(hosts)) => (hosts, self.settings.mx_port),
                Ok(Route::NullMx) => {
                    return Err(all(
                        entry,
                        RcptStatus::Bounced,
                        "5.1.10",
                        BounceClass::NoMailHost,
                        &format!(
                            "domain {} accepts no mail (null MX, RFC 7505)",
                            entry.domain
                        ),
                    ));
                }
                Ok(Route::NoSuchDomain) => {
                    return Err(all(
                        entry,
                        RcptStatus::Bounced,
                        "5.1.2",
                        BounceClass::InvalidDomain,
                        &format!("domain {} does not exist", entry.domain),
                    ));
                }
                Err(e) => {
                    return Err(all(
                        entry,
                        RcptStatus::Deferred,
                        "4.4.3",
                        BounceClass::Connection,
                        &e,
                    ));
                }
            },
        };
        Ok(Destination {
            site: format!("{}:{port}", hosts[0]),
            hosts,
            port,
        })
    }

    /// Tries to deliver the entry's pending recipients once: in one transaction, or with VERP
    /// return paths in one transaction per recipient (each has its own envelope sender), on
    /// the same connection.
    async fn deliver(&self, entry: &QueueEntry, to: &Destination, body: &[u8]) -> Vec<RcptOutcome> {
        let all_rcpts: Vec<&Recipient> = entry.recipients.iter().collect();
        let groups: Vec<(String, Vec<&Recipient>)> = match &self.settings.return_paths {
            // Never for the null sender (a DSN): it must stay null.
            Some(verp) if !entry.mail_from.is_empty() => all_rcpts
                .iter()
                .map(|r| (verp.address(r.id), vec![*r]))
                .collect(),
            _ => vec![(entry.mail_from.clone(), all_rcpts)],
        };
        let eightbit = body.iter().any(|b| *b >= 0x80);
        let mut outcomes = Vec::with_capacity(entry.recipients.len());
        let mut failed: Option<String> = None;
        for (mail_from, rcpts) in groups {
            if let Some(error) = &failed {
                // No host could be reached for the previous recipient: not again for each.
                outcomes.extend(rcpts.iter().map(|r| deferred(r, error)));
                continue;
            }
            match self
                .transaction(to, &mail_from, &rcpts, body, eightbit)
                .await
            {
                Ok(mut done) => outcomes.append(&mut done),
                Err(error) => {
                    outcomes.extend(rcpts.iter().map(|r| deferred(r, &error)));
                    failed = Some(error);
                }
            }
        }
        outcomes
    }

    /// One transaction (MAIL, RCPTs, DATA) on a kept or new connection to the first host that
    /// answers; `Err`: no host could be reached (the last error).
    async fn transaction(
        &self,
        to: &Destination,
        mail_from: &str,
        recipients: &[&Recipient],
        body: &[u8],
        eightbit: bool,
    ) -> Result<Vec<RcptOutcome>, String> {
        let (hosts, port) = (&to.hosts, to.port);
        let rcpts: Vec<&str> = recipients.iter().map(|r| r.address.as_str()).collect();
        let smtputf8 = !mail_from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii());
        let mut last_error = String::from("no mail host could be reached");
        for host in hosts {
            let key = format!("{host}:{port}");
            let mut fresh_only = false;
            loop {
                let pooled = if fresh_only {
                    None
                } else {
                    self.take_idle(&key)
                };
                let reused = pooled.is_some();
                let mut client = match pooled {
                    Some(c) => c,
                    None => match self.connect(host, port).await {
                        Ok(c) => c,
                        Err(e) => {
                            last_error = e;
                            break;
                        }
                    },
                };
                match client
                    .send(mail_from, &rcpts, body, smtputf8, eightbit)
                    .await
                {
                    Ok(result) => {
                        let results = interpret(recipients, &client.remote, &result);
                        if client.reusable() {
                            self.keep_idle(&key, client);
                        }
                        return Ok(results);
                    }
                    // A kept connection may have been closed by the server meanwhile.
                    Err(_) if reused && !client.answered() => fresh_only = true,
                    Err(e) => {
                        last_error = e.to_string();
                        break;
                    }
                }
            }
        }
        Err(last_error)
    }

    async fn connect(&self, host: &str, port: u16) -> Result<SmtpClient, String> {
        let addrs = self.resolver.addresses(host).await?;
        let mut last = format!("no address for {host}");
        for ip in addrs {
            match SmtpClient::connect(
                SocketAddr::new(ip, port),
                host,
                &self.settings.hostname,
                Some(self.tls.clone()),
                self.settings.timeout,
            )
            .await
            {
                Ok(c) => return Ok(c),
                // Whatever went wrong with this address, the next one may work.
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}

/// Not delivered this time: no host could be reached.
fn deferred(r: &Recipient, error: &str) -> RcptOutcome {
    RcptOutcome::local(
        r.id,
        &r.address,
        RcptStatus::Deferred,
        "4.4.1",
        Some(BounceClass::Connection),
        error,
    )
}

/// The same outcome for every pending recipient of the entry, decided here (no reply).
fn all(
    entry: &QueueEntry,
    status: RcptStatus,
    enhanced: &str,
    class: BounceClass,
    detail: &str,
) -> Vec<RcptOutcome> {
    entry
        .recipients
        .iter()
        .map(|r| RcptOutcome::local(r.id, &r.address, status, enhanced, Some(class), detail))
        .collect()
}

/// The reply's enhanced status code (`5.1.1`), or "" when it gave none.
fn enhanced(r: &client::Response<String>) -> String {
    if r.esc[0] != 0 {
        format!("{}.{}.{}", r.esc[0], r.esc[1], r.esc[2])
    } else {
        String::new()
    }
}

/// Each recipient's outcome from the reply that decided it (its RCPT reply, or the MAIL, DATA
/// or end-of-data reply that applies to it; made up here when nothing was sent), with its
/// bounce class: the one place a reply is read.
fn interpret(
    recipients: &[&Recipient],
    remote: &str,
    result: &client::TransactionResult,
) -> Vec<RcptOutcome> {
    recipients
        .iter()
        .zip(&result.rcpts)
        .map(|(rcpt, decided)| {
            let (status, default) = match decided.verdict() {
                client::Verdict::Delivered => (RcptStatus::Sent, "2.0.0"),
                client::Verdict::Bounced => (RcptStatus::Bounced, "5.0.0"),
                client::Verdict::Deferred => (RcptStatus::Deferred, "4.0.0"),
            };
            let reply = &decided.reply;
            let line = format_reply(reply);
            let given = enhanced(reply);
            let class = (status != RcptStatus::Sent)
                .then(|| BounceClass::of_reply(reply.code, &given, &reply.message));
            let local = decided.phase == client::Phase::Local;
            RcptOutcome {
                recipient_id: rcpt.id,
                address: rcpt.address.clone(),
                status,
                detail: if local {
                    format!("not sent to {remote}: {line}")
                } else {
                    format!("{remote} said: {line}")
                },
                enhanced: if given.is_empty() {
                    default.to_string()
                } else {
                    given
                },
                remote: (!local).then(|| RemoteReply {
                    host: remote.to_string(),
                    code: reply.code,
                    line,
                }),
                class,
            }
        })
        .collect()
}
