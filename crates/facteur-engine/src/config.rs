//! The validated configuration the engine, the HTTP layer and the listeners run with. How it
//! is read (TOML, `FACTEUR_*` variables, flags) and checked is the binary's `config` module.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// STARTTLS offered, AUTH required (submission: 587, 588, 2525, 80).
    Submission,
    /// Implicit TLS, AUTH required (465).
    Smtps,
    /// STARTTLS offered; unauthenticated, untrusted clients refused at RCPT (25).
    Relay,
}

impl ListenerKind {
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Submission => "smtp",
            ListenerKind::Smtps => "smtps",
            ListenerKind::Relay => "relay",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("invalid network address {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("invalid prefix length in {s:?}"))?,
            None => max,
        };
        Ok(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub factor: f64,
    pub lifetime: Duration,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database: String,
    pub hostname: String,
    pub listeners: Vec<(ListenerKind, SocketAddr)>,
    pub http: SocketAddr,
    pub relay_host: Option<(String, u16)>,
    pub tls_cert: Option<(PathBuf, PathBuf)>,
    pub allow_plaintext_auth: bool,
    pub trusted_networks: Vec<Network>,
    pub trusted_account: Option<String>,
    /// The HTTPS listener (API and web app, the SMTP listeners' certificate); none by default.
    pub https: Option<SocketAddr>,
    /// Strict-Transport-Security on HTTPS answers.
    pub hsts: bool,
    /// Domains whose links the content advice flags (lower case).
    pub link_blocklist: Vec<String>,
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub max_errors: usize,
    pub idle_timeout: Duration,
    pub data_timeout: Duration,
    pub max_connections_per_ip: usize,
    pub max_connections: usize,
    pub http_header_timeout: Duration,
    pub http_body_timeout: Duration,
    pub http_idle_timeout: Duration,
    /// Limits on each template render, MJML compilation and text generation.
    pub template_limits: facteur_template::Limits,
    pub auth_failures_per_ip: u32,
    pub retry: RetryPolicy,
    pub scheduler: bool,
    pub lease: Duration,
    pub delivery_workers: usize,
    pub destination_concurrency: usize,
    pub delivery_timeout: Duration,
    pub mx_port: u16,
    pub http_max_body: usize,
    /// Without a trailing slash; `None`: the HTTP listener's address once bound.
    pub public_url: Option<String>,
    pub webhook_retry: Duration,
    pub webhook_give_up: Duration,
    pub webhook_allow_private: bool,
    /// Base64 of 32 bytes: seals DKIM private keys; `None`: `DATA/secret.key`.
    pub secret_key: Option<String>,
    /// Size of new RSA DKIM keys (2048).
    pub dkim_rsa_bits: usize,
    /// The `include:` of the SPF record sending domains publish; `None`: `a:<hostname>`.
    pub spf_include: Option<String>,
    /// Soft bounces of one address that suppress it (3), over at least this span (2 days),
    /// for this long (30 days).
    pub soft_bounce_threshold: i64,
    pub soft_bounce_span: Duration,
    pub soft_bounce_expiry: Duration,
    /// The return-path domain: when set, every message with a sender leaves with a VERP
    /// envelope sender `bounce+TOKEN@` it (one per recipient), and the relay listener takes
    /// mail for it from anyone: bounces and feedback-loop reports come back to Facteur.
    /// `None`: the sender's own address stays the envelope sender.
    pub bounce_domain: Option<String>,
    /// The DNS server the domain check asks (`HOST:PORT`); `None`: the system's resolvers.
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// Whether opens and clicks are tracked when a message leaves it to the account
    /// (`TrackOpens`/`TrackClicks` `account_default`, no `X-Mailjet-Track*` header): off.
    pub track_opens: bool,
    pub track_clicks: bool,
    /// Development capture mode: no mail leaves; every message is kept, as it would have been
    /// sent, for the API to show (`delivery::capture`). Off.
    pub capture: bool,
}

/// `30s`, `5m`, `4h`, `5d`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(
        s.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.len()),
    );
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (use e.g. 30s, 5m, 4h, 5d)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {s:?} (use ms, s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs_f64(secs))
}
