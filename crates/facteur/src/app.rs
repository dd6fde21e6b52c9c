//! The running server: shared state, and `start`, which opens the store, binds every listener
//! and starts the delivery scheduler. No globals, so several nodes can run in one process.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use facteur_message::compose::Mailbox;
use facteur_message::compose::mime_body;
use facteur_message::header_value;
use facteur_message::mj_headers::{
    MjHeaders, extract as extract_mj, parts as mj_parts, replace_body,
};
use facteur_message::{ReceivedInfo, normalize_on_accept};
use facteur_smtp::{Envelope, SessionConfig};
use facteur_store::{GroupCommit, MessageMeta, NewMessage, Store};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ListenerKind};
use crate::delivery::mx::Resolver;
use crate::delivery::{Deliverer, DeliverySettings};
use crate::limits::{AuthLimiter, ConnectionLimiter};
use crate::metrics::Metrics;
use crate::sending::Rendered;
use crate::time::now_ms;

pub struct App {
    pub cfg: Config,
    pub store: Store,
    pub writer: GroupCommit,
    pub metrics: Metrics,
    pub auth_limiter: AuthLimiter,
    pub connections: ConnectionLimiter,
    pub tls_acceptor: TlsAcceptor,
    pub deliverer: Deliverer,
    pub trusted_account_id: Option<i64>,
    /// Signalled when new work is spooled, so the scheduler does not wait for its poll.
    pub queue_wakeup: Notify,
    /// This process's name in queue leases.
    pub node_id: String,
    sessions: [Arc<SessionConfig>; 3],
    pub tls_description: String,
    /// Stored templates compiled for sending.
    pub templates: crate::sending::TemplateCache,
    /// Base of the links the API returns (MessageHref), without a trailing slash.
    pub public_url: String,
}

impl App {
    pub fn session_config(&self, kind: ListenerKind) -> Arc<SessionConfig> {
        self.sessions[kind as usize].clone()
    }

    /// Spools a message received over SMTP: applies Mailjet's X-MJ headers (template,
    /// variables, CustomID, EventPayload, campaign, priority) and removes them, adds trace
    /// headers, stores it durably.
    pub async fn accept_smtp(
        &self,
        account_id: Option<i64>,
        peer: &SocketAddr,
        envelope: Envelope,
        body: Vec<u8>,
    ) -> Result<i64, AcceptError> {
        let now = now_ms();
        let (mj, stripped) = extract_mj(&body).map_err(AcceptError::Refused)?;
        let body = stripped.unwrap_or(body);
        let mut meta = MessageMeta {
            custom_id: mj.custom_id.clone(),
            event_payload: mj.event_payload.clone(),
            campaign: mj.campaign.clone(),
            subject: header_value(&body, "subject").unwrap_or_default(),
            blocked: None,
        };
        let (body, report) = match (&mj.template, mj.template_language, account_id) {
            (None, false, _) => (body, None),
            (_, _, None) => {
                return Err(AcceptError::Refused(
                    "X-MJ-TemplateID and X-MJ-TemplateLanguage need an authenticated account"
                        .into(),
                ));
            }
            (_, _, Some(account)) => {
                let (body, errors) = self.apply_mj_template(account, &mj, &body).await?;
                if let Some(subject) = header_value(&body, "subject") {
                    meta.subject = subject;
                }
                meta.blocked = crate::sending::blocked_reason(&errors, mj.error_deliver);
                let report = mj
                    .error_reporting
                    .as_deref()
                    .and_then(Mailbox::parse)
                    .filter(|_| !errors.is_empty())
                    .map(|to| (account, to, errors));
                (body, report)
            }
        };
        let peer_ip = peer.ip().to_string();
        let info = ReceivedInfo {
            helo: &envelope.helo,
            peer_ip: &peer_ip,
            hostname: &self.cfg.hostname,
            esmtp: envelope.esmtp,
            tls: envelope.tls,
            authenticated: envelope.authenticated_as.is_some(),
            now: now / 1000,
        };
        let body = normalize_on_accept(&body, &info, || {
            format!("{}@{}", uuid::Uuid::now_v7().simple(), self.cfg.hostname)
        });
        if body.len() > self.cfg.max_message_size {
            // A template can make a message larger than what was read: the limit holds on
            // what would be delivered.
            return Err(AcceptError::TooBig(format!(
                "Message too big once its template is applied ({} bytes, limit {} bytes)",
                body.len(),
                self.cfg.max_message_size
            )));
        }
        let blocked = meta.blocked.clone();
        let subject = meta.subject.clone();
        // The report and the bounce attach the message: keep a copy only when one is sent.
        let report = report.map(|r| (r, body.clone()));
        let bounce = blocked
            .as_ref()
            .filter(|_| !envelope.mail_from.is_empty())
            .map(|reason| (reason.clone(), envelope.rcpts.clone(), body.clone()));
        let mail_from = envelope.mail_from.clone();
        let id = self
            .writer
            .spool(NewMessage {
                account_id,
                mail_from: envelope.mail_from,
                recipients: envelope.rcpts,
                body,
                priority: mj.priority.unwrap_or(facteur_store::PRIORITY_DEFAULT),
                now,
                expires_at: now + self.cfg.retry.lifetime.as_millis() as i64,
                meta,
            })
            .await?;
        Metrics::inc(&self.metrics.messages_accepted_total);
        match &blocked {
            None => self.queue_wakeup.notify_one(),
            Some(reason) => {
                tracing::info!(msg_id = id, client = %peer, reason = %reason, "message blocked: it will not be delivered");
            }
        }
        if let Some((reason, rcpts, original)) = bounce {
            // The sender learns it at once: over SMTP there is no response body to carry it.
            use facteur_message::{DsnAction, DsnRecipient};
            let diagnostic = format!("blocked by {}: {reason}", self.cfg.hostname);
            let recipients = rcpts
                .into_iter()
                .map(|address| DsnRecipient {
                    address,
                    action: DsnAction::Failed,
                    status: "5.6.0".into(),
                    remote_mta: None,
                    diagnostic: diagnostic.clone(),
                })
                .collect();
            let original = crate::scheduler::Original {
                id,
                account_id,
                mail_from: &mail_from,
                created_at: now,
                body: &original,
            };
            let dsn = crate::scheduler::bounce(self, &original, recipients, now);
            match self.writer.spool(dsn).await {
                Ok(_) => {
                    Metrics::inc(&self.metrics.dsn_generated_total);
                    self.queue_wakeup.notify_one();
                }
                Err(e) => {
                    tracing::error!(error = %e, msg_id = id, "cannot spool the bounce of a blocked message")
                }
            }
        }
        if let Some(((account, to, errors), original)) = report
            && let Err(e) =
                crate::sending::spool_error_report(self, account, &to, &subject, &errors, &original)
                    .await
        {
            tracing::error!(error = %e, "cannot spool the template error report");
        }
        Ok(id)
    }

    /// The message with its template applied: X-MJ-TemplateID's content (or the message's own
    /// parts) rendered with X-MJ-Vars when X-MJ-TemplateLanguage is on.
    async fn apply_mj_template(
        &self,
        account_id: i64,
        mj: &MjHeaders,
        body: &[u8],
    ) -> Result<(Vec<u8>, Vec<crate::sending::PartError>), AcceptError> {
        let mut parts = mj_parts(body);
        let empty = serde_json::Value::Object(Default::default());
        let template = match &mj.template {
            None => None,
            Some(reference) => {
                let id = match reference.parse::<i64>() {
                    Ok(id) => Ok(id),
                    Err(_) => self.store.template_id_by_name(account_id, reference).await,
                };
                let t = match id {
                    Ok(id) => self.template_for_send(account_id, id).await,
                    Err(e) => Err(e),
                }
                .map_err(|e| match e {
                    facteur_store::Error::NotFound => AcceptError::Refused(format!(
                        "X-MJ-TemplateID {reference}: no published template with this id or name for this account"
                    )),
                    other => AcceptError::Store(other),
                })?;
                Some(t)
            }
        };
        let Rendered {
            subject,
            html,
            text,
            errors,
        } = crate::sending::render_message_blocking(
            template,
            crate::sending::OwnedParts {
                subject: parts.subject.take(),
                html: parts.html.take(),
                text: parts.text.take(),
            },
            mj.vars.clone().unwrap_or(empty),
            mj.template_language,
            &self.cfg.template_limits,
        )
        .await;
        let new_body = mime_body(&text, &html, &parts.attachments, &parts.inline);
        let subject = (!subject.is_empty()).then_some(subject.as_str());
        Ok((replace_body(body, subject, new_body), errors))
    }
}

/// What a suspended key is told, on every path.
pub const SUSPENDED: &str = "This API key is suspended: reactivate it with its master key";

/// Why an API key and secret key were not accepted.
#[derive(Debug)]
pub enum AuthDenied {
    /// No (or unreadable) credentials, or wrong ones.
    Invalid,
    /// Right credentials of a suspended key.
    Suspended,
    /// The client address failed too often recently (`auth_failures_per_ip`).
    Throttled,
    Unavailable(facteur_store::Error),
}

impl App {
    /// The one check of an API key and secret key, for SMTP AUTH and HTTP Basic alike: failures
    /// are counted per client address and, past `auth_failures_per_ip` within 5 minutes,
    /// refused without a store lookup.
    pub async fn check_key(
        &self,
        key: &str,
        secret: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<facteur_store::Account, AuthDenied> {
        let now = std::time::Instant::now();
        if let Some(ip) = ip
            && self.auth_limiter.blocked(ip, now)
        {
            Metrics::inc(&self.metrics.auth_throttled_total);
            return Err(AuthDenied::Throttled);
        }
        match self.store.verify_credentials(key, secret).await {
            Ok(Some(account)) if account.is_active => Ok(account),
            Ok(Some(account)) => {
                Metrics::inc(&self.metrics.auth_failures_total);
                tracing::info!(api_key = %account.api_key, "authentication refused: the API key is suspended");
                Err(AuthDenied::Suspended)
            }
            Ok(None) => {
                Metrics::inc(&self.metrics.auth_failures_total);
                if let Some(ip) = ip {
                    self.auth_limiter.failed(ip, now);
                    tracing::info!(client = %ip, "authentication failed");
                }
                Err(AuthDenied::Invalid)
            }
            Err(e) => {
                Metrics::inc(&self.metrics.store_failures_total);
                Err(AuthDenied::Unavailable(e))
            }
        }
    }
}

/// Why a message received over SMTP was not spooled.
#[derive(Debug)]
pub enum AcceptError {
    /// The store failed: a temporary failure (451).
    Store(facteur_store::Error),
    /// The message cannot be used as it is (a bad X-MJ header, an unknown template): 550 5.6.0.
    Refused(String),
    /// The message would be larger than max_message_size once built: 552 5.3.4.
    TooBig(String),
}

impl From<facteur_store::Error> for AcceptError {
    fn from(e: facteur_store::Error) -> Self {
        AcceptError::Store(e)
    }
}

impl std::fmt::Display for AcceptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AcceptError::Store(e) => write!(f, "{e}"),
            AcceptError::Refused(r) | AcceptError::TooBig(r) => write!(f, "{r}"),
        }
    }
}

/// A started server.
pub struct Running {
    pub app: Arc<App>,
    pub listeners: Vec<(ListenerKind, SocketAddr)>,
    pub http: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    scheduler: Option<tokio::task::AbortHandle>,
}

impl Running {
    /// Stops this node's delivery at once, as a crash would: attempts under way are abandoned
    /// and their rows stay leased until the lease expires. (Tests use it to simulate a node
    /// dying mid-delivery.)
    pub fn kill_delivery(&mut self) {
        if let Some(handle) = self.scheduler.take() {
            handle.abort();
        }
    }

    /// Stops accepting, lets sessions say 421, stops the scheduler.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}

/// This node's stable name in queue leases, kept in `DATA/node-id` (created on first start).
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = format!("node-{}", uuid::Uuid::now_v7().simple());
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// Opens the store and starts everything the config asks for.
pub async fn start(cfg: Config, resolver: Option<Resolver>) -> anyhow::Result<Running> {
    let store = Store::open(&cfg.database)
        .await
        .with_context(|| format!("opening the database {}", cfg.database))?;
    let (server_tls, tls_description) = crate::tls::server_config(
        cfg.tls_cert
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path())),
        &cfg.data_dir,
        &cfg.hostname,
    )?;
    let trusted_account_id = match &cfg.trusted_account {
        Some(key) => Some(
            store
                .account_by_key(key)
                .await?
                .with_context(|| format!("trusted_account {key} is not an API key of this server (see `facteur account list`)"))?
                .id,
        ),
        None => None,
    };
    let resolver = match resolver {
        Some(r) => r,
        None if cfg.relay_host.is_some() => Resolver::Static {
            routes: Default::default(),
            hosts: Default::default(),
        },
        None => Resolver::system().map_err(anyhow::Error::msg)?,
    };
    let session = |starttls: bool, submission: bool| {
        Arc::new(SessionConfig {
            hostname: cfg.hostname.clone(),
            max_message_size: cfg.max_message_size,
            max_recipients: cfg.max_recipients,
            max_errors: cfg.max_errors,
            starttls,
            allow_plaintext_auth: cfg.allow_plaintext_auth,
            submission,
        })
    };
    let sessions = [
        session(true, true),
        session(false, true),
        session(true, false),
    ];
    let deliverer = Deliverer::new(
        DeliverySettings {
            hostname: cfg.hostname.clone(),
            relay_host: cfg.relay_host.clone(),
            mx_port: cfg.mx_port,
            timeout: cfg.delivery_timeout,
            site_concurrency: cfg.destination_concurrency,
        },
        resolver,
    );
    let writer = GroupCommit::start(store.clone());
    let http_listener = TcpListener::bind(cfg.http)
        .await
        .with_context(|| format!("cannot listen on {} (http): is the port in use?", cfg.http))?;
    let http = http_listener.local_addr()?;
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{http}"));
    let app = Arc::new(App {
        public_url,
        auth_limiter: AuthLimiter::new(cfg.auth_failures_per_ip),
        connections: ConnectionLimiter::new(cfg.max_connections_per_ip, cfg.max_connections),
        tls_acceptor: TlsAcceptor::from(server_tls),
        deliverer,
        trusted_account_id,
        queue_wakeup: Notify::new(),
        node_id: node_id(&cfg.data_dir)?,
        sessions,
        tls_description,
        templates: Default::default(),
        metrics: Metrics::default(),
        writer,
        store,
        cfg,
    });

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut listeners = Vec::new();
    for (kind, addr) in app.cfg.listeners.clone() {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} ({}): is the port in use, or privileged (below 1024 needs root or CAP_NET_BIND_SERVICE)?", kind.name())
        })?;
        listeners.push((kind, listener.local_addr()?));
        tasks.spawn(crate::smtp_server::serve(
            listener,
            kind,
            app.clone(),
            shutdown_rx.clone(),
        ));
    }
    tasks.spawn(crate::http::serve(
        http_listener,
        app.clone(),
        shutdown_rx.clone(),
    ));
    let mut scheduler = None;
    if app.cfg.scheduler {
        let freed = app.store.release_leases_of(&app.node_id).await?;
        if freed > 0 {
            tracing::info!(
                rows = freed,
                "took back queue rows leased before the last stop"
            );
        }
        // Other nodes sharing a PostgreSQL queue announce new work: wake at once, not at the
        // next poll.
        if let Some(mut notes) = app.store.listen(facteur_store::QUEUE_CHANNEL).await? {
            let app = app.clone();
            let mut stop = shutdown_rx.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        note = notes.recv() => match note {
                            Some(_) => app.queue_wakeup.notify_one(),
                            None => return,
                        },
                        _ = stop.changed() => return,
                    }
                }
            });
        }
        tasks.spawn(crate::webhooks::run(app.clone(), shutdown_rx.clone()));
        tasks.spawn(crate::scheduler::summaries(
            app.clone(),
            shutdown_rx.clone(),
        ));
        scheduler = Some(tasks.spawn(crate::scheduler::run(app.clone(), shutdown_rx)));
    }
    Ok(Running {
        app,
        listeners,
        http,
        shutdown,
        tasks,
        scheduler,
    })
}
