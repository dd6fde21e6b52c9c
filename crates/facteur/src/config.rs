//! Configuration: one set of settings, readable from a TOML file, `FACTEUR_*` environment
//! variables and command-line flags (flags and env win over the file). `facteur serve` needs
//! none of them. Validation collects every problem before reporting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
pub use facteur_engine::config::{Config, ListenerKind, Network, RetryPolicy, parse_duration};
use serde::Deserialize;

/// Every setting, as given (all optional). The same struct is the TOML schema and the flags.
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory for the embedded database and the generated TLS certificate [default: ./data]
    #[arg(long, env = "FACTEUR_DATA")]
    pub data: Option<PathBuf>,
    /// Database: a SQLite path, sqlite://PATH, or postgres://USER@HOST/DB to share one queue
    /// between several nodes [default: DATA/facteur.db]
    #[arg(long, env = "FACTEUR_DATABASE")]
    pub database: Option<String>,
    /// Name used in the SMTP greeting, Received headers, Message-IDs and DSNs [default: localhost]
    #[arg(long, env = "FACTEUR_HOSTNAME")]
    pub hostname: Option<String>,
    /// Submission listener offering STARTTLS (repeatable; replaces the default listeners)
    #[arg(long = "smtp", env = "FACTEUR_SMTP", value_delimiter = ',')]
    pub smtp: Vec<String>,
    /// Implicit-TLS ("SMTPS") listener (repeatable; replaces the default listeners)
    #[arg(long = "smtps", env = "FACTEUR_SMTPS", value_delimiter = ',')]
    pub smtps: Vec<String>,
    /// Relay listener (port 25 style): STARTTLS offered, mail from clients that neither
    /// authenticated nor come from a trusted network is refused at RCPT (repeatable)
    #[arg(long = "relay", env = "FACTEUR_RELAY", value_delimiter = ',')]
    pub relay: Vec<String>,
    /// HTTP listener (health, metrics) [default: 127.0.0.1:8025]
    #[arg(long, env = "FACTEUR_HTTP")]
    pub http: Option<String>,
    /// Send all mail through this host:port instead of looking up MX records
    #[arg(long, env = "FACTEUR_RELAY_HOST")]
    pub relay_host: Option<String>,
    /// PEM certificate chain for TLS [default: a self-signed certificate in DATA]
    #[arg(long, env = "FACTEUR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS
    #[arg(long, env = "FACTEUR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept AUTH on connections without TLS (not recommended)
    #[arg(long, env = "FACTEUR_ALLOW_PLAINTEXT_AUTH")]
    pub allow_plaintext_auth: Option<bool>,
    /// HTTPS listener for the API and the web app, with the SMTP listeners' certificate
    /// (e.g. 0.0.0.0:8443) [default: none]
    #[arg(long, env = "FACTEUR_HTTPS")]
    pub https: Option<String>,
    /// Send Strict-Transport-Security on HTTPS answers (browsers then refuse plain http for a
    /// year: turn on once HTTPS works) [default: false]
    #[arg(long, env = "FACTEUR_HSTS")]
    pub hsts: Option<bool>,
    /// Domains whose links the content advice flags (link-blocklisted), comma-separated
    #[arg(long, env = "FACTEUR_LINK_BLOCKLIST", value_delimiter = ',')]
    pub link_blocklist: Vec<String>,
    /// Client networks whose unauthenticated mail is accepted and relayed, e.g. 127.0.0.0/8,::1/128
    #[arg(long, env = "FACTEUR_TRUSTED_NETWORKS", value_delimiter = ',')]
    pub trusted_networks: Vec<String>,
    /// API key of the account that mail from trusted networks is sent for
    #[arg(long, env = "FACTEUR_TRUSTED_ACCOUNT")]
    pub trusted_account: Option<String>,
    /// Largest message accepted, in bytes [default: 26214400]
    #[arg(long, env = "FACTEUR_MAX_MESSAGE_SIZE")]
    pub max_message_size: Option<usize>,
    /// Most recipients per message [default: 100]
    #[arg(long, env = "FACTEUR_MAX_RECIPIENTS")]
    pub max_recipients: Option<usize>,
    /// Error replies after which a session is closed [default: 20]
    #[arg(long, env = "FACTEUR_MAX_ERRORS")]
    pub max_errors: Option<usize>,
    /// Idle time after which a session is closed, e.g. 300s, 5m [default: 5m]
    #[arg(long, env = "FACTEUR_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// Longest time a client may take to send one message body [default: 10m]
    #[arg(long, env = "FACTEUR_DATA_TIMEOUT")]
    pub data_timeout: Option<String>,
    /// Concurrent connections allowed from one client address, SMTP and HTTP together
    /// [default: 50]
    #[arg(long, env = "FACTEUR_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Concurrent connections on all listeners together; keep it below the process's file
    /// descriptor limit (`ulimit -n`) [default: 512]
    #[arg(long, env = "FACTEUR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Longest time an HTTP client may take to send a request's headers [default: 10s]
    #[arg(long, env = "FACTEUR_HTTP_HEADER_TIMEOUT")]
    pub http_header_timeout: Option<String>,
    /// Longest time an HTTP client may take to send a request's body [default: 60s]
    #[arg(long, env = "FACTEUR_HTTP_BODY_TIMEOUT")]
    pub http_body_timeout: Option<String>,
    /// An HTTP connection silent this long is closed (idle keep-alive included) [default: 60s]
    #[arg(long, env = "FACTEUR_HTTP_IDLE_TIMEOUT")]
    pub http_idle_timeout: Option<String>,
    /// Deepest element nesting accepted in MJML and in HTML converted to text (at most 250)
    /// [default: 200]
    #[arg(long, env = "FACTEUR_TEMPLATE_MAX_DEPTH")]
    pub template_max_depth: Option<usize>,
    /// Largest output of one template render, and largest string it may build, in bytes
    /// [default: 10485760]
    #[arg(long, env = "FACTEUR_TEMPLATE_MAX_OUTPUT")]
    pub template_max_output: Option<usize>,
    /// Most loop iterations in one template render, all loops together [default: 1000000]
    #[arg(long, env = "FACTEUR_TEMPLATE_MAX_ITERATIONS")]
    pub template_max_iterations: Option<usize>,
    /// Longest one template render or HTML-to-text conversion may take [default: 1s]
    #[arg(long, env = "FACTEUR_TEMPLATE_RENDER_TIMEOUT")]
    pub template_render_timeout: Option<String>,
    /// Failed AUTH attempts from one address within 5 minutes before AUTH is refused [default: 5]
    #[arg(long, env = "FACTEUR_AUTH_FAILURES_PER_IP")]
    pub auth_failures_per_ip: Option<u32>,
    /// First retry delay after a temporary failure [default: 5m]
    #[arg(long, env = "FACTEUR_RETRY_INITIAL")]
    pub retry_initial: Option<String>,
    /// Longest delay between retries [default: 4h]
    #[arg(long, env = "FACTEUR_RETRY_MAX")]
    pub retry_max: Option<String>,
    /// Growth factor between retries [default: 2]
    #[arg(long, env = "FACTEUR_RETRY_FACTOR")]
    pub retry_factor: Option<f64>,
    /// Time after which undelivered mail expires and is bounced [default: 5d]
    #[arg(long, env = "FACTEUR_QUEUE_LIFETIME")]
    pub queue_lifetime: Option<String>,
    /// Run the delivery scheduler on this node (false: accept-only node) [default: true]
    #[arg(long, env = "FACTEUR_SCHEDULER")]
    pub scheduler: Option<bool>,
    /// How long a node keeps a claimed queue row before other nodes may take it over; longer
    /// than any single delivery attempt [default: 15m]
    #[arg(long, env = "FACTEUR_LEASE")]
    pub lease: Option<String>,
    /// Concurrent deliveries in all [default: 100]
    #[arg(long, env = "FACTEUR_DELIVERY_WORKERS")]
    pub delivery_workers: Option<usize>,
    /// Concurrent connections to one destination host [default: 10]
    #[arg(long, env = "FACTEUR_DESTINATION_CONCURRENCY")]
    pub destination_concurrency: Option<usize>,
    /// Timeout for connecting and for each command of an outbound session [default: 60s]
    #[arg(long, env = "FACTEUR_DELIVERY_TIMEOUT")]
    pub delivery_timeout: Option<String>,
    /// Port used when connecting to MX hosts [default: 25]
    #[arg(long, env = "FACTEUR_MX_PORT")]
    pub mx_port: Option<u16>,
    /// Largest HTTP request body, in bytes; larger ones get 413 [default: 33554432]
    #[arg(long, env = "FACTEUR_HTTP_MAX_BODY")]
    pub http_max_body: Option<usize>,
    /// Public base URL of the HTTP API, used in MessageHref [default: http://HTTP-LISTENER]
    #[arg(long, env = "FACTEUR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Delay between two tries of a webhook call that failed [default: 30s]
    #[arg(long, env = "FACTEUR_WEBHOOK_RETRY")]
    pub webhook_retry: Option<String>,
    /// How long a failing webhook call is retried before it is dropped and its URL marked
    /// dead [default: 24h]
    #[arg(long, env = "FACTEUR_WEBHOOK_GIVE_UP")]
    pub webhook_give_up: Option<String>,
    /// Allow webhook URLs on loopback and private networks (tests, internal receivers)
    /// [default: false]
    #[arg(long, env = "FACTEUR_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: Option<bool>,
    /// 32 bytes in base64 that seal the DKIM private keys in the database; every node of a
    /// cluster needs the same [default: DATA/secret.key, made on first start]
    #[arg(long, env = "FACTEUR_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Size in bits of new RSA DKIM keys [default: 2048]
    #[arg(long, env = "FACTEUR_DKIM_RSA_BITS")]
    pub dkim_rsa_bits: Option<usize>,
    /// The include: of the SPF record shown for sending domains [default: a:HOSTNAME]
    #[arg(long, env = "FACTEUR_SPF_INCLUDE")]
    pub spf_include: Option<String>,
    /// Soft bounces of one address that put it on the suppression list [default: 3]
    #[arg(long, env = "FACTEUR_SOFT_BOUNCE_THRESHOLD")]
    pub soft_bounce_threshold: Option<i64>,
    /// The least time those soft bounces must span [default: 2d]
    #[arg(long, env = "FACTEUR_SOFT_BOUNCE_SPAN")]
    pub soft_bounce_span: Option<String>,
    /// How long a soft-bounce suppression lasts [default: 30d]
    #[arg(long, env = "FACTEUR_SOFT_BOUNCE_EXPIRY")]
    pub soft_bounce_expiry: Option<String>,
    /// The return-path (bounce) domain, e.g. bounces.example.com: its MX must point to this
    /// server. Outgoing mail gets a VERP envelope sender on it, and bounces and complaints sent
    /// there are read [default: none: the sender's address stays the envelope sender]
    #[arg(long, env = "FACTEUR_BOUNCE_DOMAIN")]
    pub bounce_domain: Option<String>,
    /// The DNS server (IP:PORT) that `domain check` asks [default: the system's resolvers]
    #[arg(long, env = "FACTEUR_DNS_RESOLVER")]
    pub dns_resolver: Option<String>,
    /// Track opens of messages that leave it to the account (TrackOpens account_default): the
    /// open pixel points to public_url, which recipients must reach [default: false]
    #[arg(long, env = "FACTEUR_TRACK_OPENS")]
    pub track_opens: Option<bool>,
    /// Track clicks of messages that leave it to the account (TrackClicks account_default)
    /// [default: false]
    #[arg(long, env = "FACTEUR_TRACK_CLICKS")]
    pub track_clicks: Option<bool>,
    /// Development capture mode: no mail leaves this machine; every message is kept as it
    /// would have been sent and shown by the API (/v3/REST/capture) [default: false]
    #[arg(long, env = "FACTEUR_CAPTURE", num_args = 0..=1, default_missing_value = "true")]
    pub capture: Option<bool>,
}

macro_rules! merge_fields {
    ($high:ident, $low:ident; options: $($o:ident),*; lists: $($l:ident),*) => {
        Settings {
            $($o: $high.$o.or($low.$o),)*
            $($l: if $high.$l.is_empty() { $low.$l } else { $high.$l },)*
        }
    };
}

impl Settings {
    /// `self` (flags and env) over `file`.
    pub fn over(self, file: Settings) -> Settings {
        let (high, low) = (self, file);
        merge_fields!(high, low;
            options: data, database, hostname, http, relay_host, tls_cert, tls_key,
                allow_plaintext_auth, trusted_account, max_message_size, max_recipients,
                max_errors, idle_timeout, data_timeout, max_connections_per_ip, max_connections,
                http_header_timeout, http_body_timeout, http_idle_timeout, template_max_depth,
                template_max_output, template_max_iterations, template_render_timeout,
                auth_failures_per_ip, retry_initial, retry_max, retry_factor, queue_lifetime,
                scheduler, lease, delivery_workers, destination_concurrency, delivery_timeout, mx_port,
                http_max_body, public_url, webhook_retry, webhook_give_up, webhook_allow_private,
                secret_key, dkim_rsa_bits, spf_include, soft_bounce_threshold, soft_bounce_span,
                soft_bounce_expiry, bounce_domain, dns_resolver, track_opens, track_clicks,
                capture, https, hsts;
            lists: smtp, smtps, relay, trusted_networks, link_blocklist)
    }

    pub fn from_file(path: &std::path::Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }
}

fn host_port(s: &str, what: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{what} {s:?} must be HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("{what} {s:?} has an invalid port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{what} {s:?} has no host"));
    }
    Ok((host.to_string(), port))
}

/// Applies defaults and checks everything; returns every problem found.
pub fn resolve(s: Settings) -> Result<Config, Vec<String>> {
    let mut problems = Vec::new();
    let mut duration = |v: &Option<String>, default: &str, name: &str| -> Duration {
        match parse_duration(v.as_deref().unwrap_or(default)) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                Duration::ZERO
            }
        }
    };
    let idle_timeout = duration(&s.idle_timeout, "5m", "idle_timeout");
    let data_timeout = duration(&s.data_timeout, "10m", "data_timeout");
    let initial = duration(&s.retry_initial, "5m", "retry_initial");
    let max = duration(&s.retry_max, "4h", "retry_max");
    let lifetime = duration(&s.queue_lifetime, "5d", "queue_lifetime");
    let delivery_timeout = duration(&s.delivery_timeout, "60s", "delivery_timeout");
    let lease = duration(&s.lease, "15m", "lease");
    let webhook_retry = duration(&s.webhook_retry, "30s", "webhook_retry");
    let webhook_give_up = duration(&s.webhook_give_up, "24h", "webhook_give_up");
    let http_header_timeout = duration(&s.http_header_timeout, "10s", "http_header_timeout");
    let http_body_timeout = duration(&s.http_body_timeout, "60s", "http_body_timeout");
    let http_idle_timeout = duration(&s.http_idle_timeout, "60s", "http_idle_timeout");
    let template_render_timeout =
        duration(&s.template_render_timeout, "1s", "template_render_timeout");
    let soft_bounce_span = duration(&s.soft_bounce_span, "2d", "soft_bounce_span");
    let soft_bounce_expiry = duration(&s.soft_bounce_expiry, "30d", "soft_bounce_expiry");

    let data_dir = s.data.clone().unwrap_or_else(|| PathBuf::from("./data"));
    let database = s
        .database
        .clone()
        .unwrap_or_else(|| data_dir.join("facteur.db").to_string_lossy().into_owned());

    let mut listeners = Vec::new();
    let defaults = s.smtp.is_empty() && s.smtps.is_empty() && s.relay.is_empty();
    let (smtp, smtps) = if defaults {
        (
            vec!["127.0.0.1:2587".into(), "127.0.0.1:2525".into()],
            vec!["127.0.0.1:2465".into()],
        )
    } else {
        (s.smtp.clone(), s.smtps.clone())
    };
    for (kind, list) in [
        (ListenerKind::Submission, &smtp),
        (ListenerKind::Smtps, &smtps),
        (ListenerKind::Relay, &s.relay),
    ] {
        for a in list {
            match a.parse::<SocketAddr>() {
                Ok(addr) => listeners.push((kind, addr)),
                Err(_) => problems.push(format!(
                    "{} listener {a:?} is not an IP:PORT address",
                    kind.name()
                )),
            }
        }
    }
    let https = match s.https.as_deref().map(str::parse::<SocketAddr>) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            problems.push(format!(
                "https listener {:?} is not an IP:PORT address",
                s.https.as_deref().unwrap_or("")
            ));
            None
        }
    };
    let link_blocklist: Vec<String> = s
        .link_blocklist
        .iter()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    let http = match s.http.as_deref().unwrap_or("127.0.0.1:8025").parse() {
        Ok(a) => a,
        Err(_) => {
            problems.push(format!(
                "http listener {:?} is not an IP:PORT address",
                s.http
            ));
            "127.0.0.1:8025".parse().unwrap()
        }
    };
    let relay_host = match s.relay_host.as_deref().map(|r| host_port(r, "relay_host")) {
        Some(Ok(hp)) => Some(hp),
        Some(Err(e)) => {
            problems.push(e);
            None
        }
        None => None,
    };
    let tls_cert = match (&s.tls_cert, &s.tls_key) {
        (Some(c), Some(k)) => {
            for p in [c, k] {
                if !p.is_file() {
                    problems.push(format!("TLS file {} does not exist", p.display()));
                }
            }
            Some((c.clone(), k.clone()))
        }
        (None, None) => None,
        _ => {
            problems.push("tls_cert and tls_key must be given together".into());
            None
        }
    };
    let mut trusted_networks = Vec::new();
    for n in &s.trusted_networks {
        match Network::parse(n) {
            Ok(net) => trusted_networks.push(net),
            Err(e) => problems.push(format!("trusted_networks: {e}")),
        }
    }
    if !trusted_networks.is_empty() && s.trusted_account.is_none() {
        problems.push(
            "trusted_networks needs trusted_account (the API key the relayed mail is sent for)"
                .into(),
        );
    }
    let retry_factor = s.retry_factor.unwrap_or(2.0);
    if !(1.0..=10.0).contains(&retry_factor) {
        problems.push(format!(
            "retry_factor {retry_factor} must be between 1 and 10"
        ));
    }
    let positive = |v: Option<usize>, d: usize, name: &str, problems: &mut Vec<String>| {
        let v = v.unwrap_or(d);
        if v == 0 {
            problems.push(format!("{name} must be at least 1"));
        }
        v
    };
    let max_message_size = positive(
        s.max_message_size,
        25 * 1024 * 1024,
        "max_message_size",
        &mut problems,
    );
    let max_recipients = positive(s.max_recipients, 100, "max_recipients", &mut problems);
    let max_errors = positive(s.max_errors, 20, "max_errors", &mut problems);
    let max_connections_per_ip = positive(
        s.max_connections_per_ip,
        50,
        "max_connections_per_ip",
        &mut problems,
    );
    let max_connections = positive(s.max_connections, 512, "max_connections", &mut problems);
    let defaults = facteur_template::Limits::default();
    let template_limits = facteur_template::Limits {
        max_depth: positive(
            s.template_max_depth,
            defaults.max_depth,
            "template_max_depth",
            &mut problems,
        ),
        max_output_bytes: positive(
            s.template_max_output,
            defaults.max_output_bytes,
            "template_max_output",
            &mut problems,
        ),
        max_iterations: positive(
            s.template_max_iterations,
            defaults.max_iterations,
            "template_max_iterations",
            &mut problems,
        ),
        max_duration: Some(template_render_timeout),
    };
    if template_limits.max_depth > 250 {
        problems.push(format!(
            "template_max_depth {} is over 250: deeper MJML can overflow a 2 MiB thread stack",
            template_limits.max_depth
        ));
    }
    let delivery_workers = positive(s.delivery_workers, 100, "delivery_workers", &mut problems);
    let destination_concurrency = positive(
        s.destination_concurrency,
        10,
        "destination_concurrency",
        &mut problems,
    );
    if lease < delivery_timeout * 3 {
        problems.push(format!(
            "lease ({}s) must be at least 3 x delivery_timeout ({}s) so that a live node keeps its rows",
            lease.as_secs(),
            delivery_timeout.as_secs()
        ));
    }
    let http_max_body = positive(
        s.http_max_body,
        32 * 1024 * 1024,
        "http_max_body",
        &mut problems,
    );
    let public_url = s
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/').to_string());
    if let Some(u) = &public_url
        && !u.starts_with("http://")
        && !u.starts_with("https://")
    {
        problems.push(format!(
            "public_url {u:?} must start with http:// or https://"
        ));
    }
    let dkim_rsa_bits = s.dkim_rsa_bits.unwrap_or(2048);
    if !(2048..=4096).contains(&dkim_rsa_bits) {
        problems.push(format!(
            "dkim_rsa_bits {dkim_rsa_bits}: use 2048 to 4096 (receivers refuse shorter keys)"
        ));
    }
    let soft_bounce_threshold = s.soft_bounce_threshold.unwrap_or(3);
    if soft_bounce_threshold < 1 {
        problems.push("soft_bounce_threshold must be at least 1".into());
    }
    let bounce_domain = s
        .bounce_domain
        .as_deref()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    if let Some(d) = &bounce_domain
        && (!d.contains('.')
            || !d
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    {
        problems.push(format!(
            "bounce_domain {d:?} must be a domain name such as bounces.example.com"
        ));
    }
    let dns_resolver = match s.dns_resolver.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => match v.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(format!(
                    "dns_resolver {v:?} must be IP:PORT, e.g. 127.0.0.1:53"
                ));
                None
            }
        },
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Config {
        bounce_domain,
        dns_resolver,
        track_opens: s.track_opens.unwrap_or(false),
        track_clicks: s.track_clicks.unwrap_or(false),
        capture: s.capture.unwrap_or(false),
        secret_key: s.secret_key,
        dkim_rsa_bits,
        spf_include: s.spf_include,
        soft_bounce_threshold,
        soft_bounce_span,
        soft_bounce_expiry,
        http_max_body,
        public_url,
        webhook_retry,
        webhook_give_up,
        webhook_allow_private: s.webhook_allow_private.unwrap_or(false),
        data_dir,
        database,
        hostname: s.hostname.unwrap_or_else(|| "localhost".into()),
        listeners,
        http,
        relay_host,
        tls_cert,
        allow_plaintext_auth: s.allow_plaintext_auth.unwrap_or(false),
        trusted_networks,
        trusted_account: s.trusted_account,
        https,
        hsts: s.hsts.unwrap_or(false),
        link_blocklist,
        max_message_size,
        max_recipients,
        max_errors,
        idle_timeout,
        data_timeout,
        max_connections_per_ip,
        max_connections,
        http_header_timeout,
        http_body_timeout,
        http_idle_timeout,
        template_limits,
        auth_failures_per_ip: s.auth_failures_per_ip.unwrap_or(5),
        retry: RetryPolicy {
            initial,
            max,
            factor: retry_factor,
            lifetime,
        },
        scheduler: s.scheduler.unwrap_or(true),
        lease,
        delivery_workers,
        destination_concurrency,
        delivery_timeout,
        mx_port: s.mx_port.unwrap_or(25),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5d"), Ok(Duration::from_secs(432_000)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 weeks").is_err());
    }

    #[test]
    fn networks() {
        let n = Network::parse("127.0.0.0/8").unwrap();
        assert!(n.contains("127.1.2.3".parse().unwrap()));
        assert!(n.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!n.contains("10.0.0.1".parse().unwrap()));
        assert!(
            Network::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(Network::parse("1.2.3.4/33").is_err());
    }

    #[test]
    fn defaults_and_all_problems_at_once() {
        let c = resolve(Settings::default()).unwrap();
        assert_eq!(c.listeners.len(), 3);
        assert_eq!(c.retry.lifetime, Duration::from_secs(5 * 86400));
        let bad = Settings {
            smtp: vec!["nope".into()],
            idle_timeout: Some("5 weeks".into()),
            trusted_networks: vec!["10.0.0.0/8".into()],
            relay_host: Some("nohost".into()),
            ..Settings::default()
        };
        let problems = resolve(bad).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn flags_over_file() {
        let file: Settings =
            toml::from_str("hostname = \"file\"\nsmtp = [\"127.0.0.1:1\"]\nmax_errors = 3")
                .unwrap();
        let cli = Settings {
            hostname: Some("cli".into()),
            ..Settings::default()
        };
        let merged = cli.over(file);
        assert_eq!(merged.hostname.as_deref(), Some("cli"));
        assert_eq!(merged.smtp, vec!["127.0.0.1:1".to_string()]);
        assert_eq!(merged.max_errors, Some(3));
        assert!(toml::from_str::<Settings>("unknown_key = 1").is_err());
    }

    #[test]
    fn capture_from_flag_and_file() {
        use clap::Parser;
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            settings: Settings,
        }
        let flag = |args: &[&str]| {
            let flags = Flags::try_parse_from([&["facteur"], args].concat()).unwrap();
            resolve(flags.settings).unwrap().capture
        };
        assert!(!flag(&[]));
        assert!(flag(&["--capture"]));
        assert!(flag(&["--capture", "true"]));
        assert!(!flag(&["--capture=false"]));
        assert!(flag(&["--capture", "--hostname", "dev.test"]));
        let file: Settings = toml::from_str("capture = true").unwrap();
        assert!(resolve(Settings::default().over(file)).unwrap().capture);
    }
}
