//! The running server: the engine, its SMTP listeners and the HTTP listener, started from one
//! configuration. No globals, so several nodes can run in one process (tests do).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use facteur_engine::Engine;
use facteur_engine::config::{Config, ListenerKind};
use facteur_engine::delivery::mx::Resolver;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::smtp::SmtpListeners;

/// A started server.
pub struct Running {
    pub app: Arc<Engine>,
    pub listeners: Vec<(ListenerKind, SocketAddr)>,
    pub http: SocketAddr,
    /// The HTTPS listener, when configured (`https`).
    pub https: Option<SocketAddr>,
    /// What the TLS certificate is (configured, or the generated development one).
    pub tls_description: String,
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

/// Opens the store and starts everything the config asks for. `resolver` replaces the
/// system's DNS (tests).
pub async fn start(cfg: Config, resolver: Option<Resolver>) -> anyhow::Result<Running> {
    let (server_tls, tls_description) = crate::tls::server_config(
        cfg.tls_cert
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path())),
        &cfg.data_dir,
        &cfg.hostname,
    )?;
    let http_listener = TcpListener::bind(cfg.http)
        .await
        .with_context(|| format!("cannot listen on {} (http): is the port in use?", cfg.http))?;
    let http = http_listener.local_addr()?;
    let https_listener = match cfg.https {
        Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (https): is the port in use, or privileged?")
        })?),
        None => None,
    };
    let https = https_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{http}"));
    let engine = Arc::new(
        Engine::open(cfg, resolver, public_url)
            .await
            .map_err(anyhow::Error::msg)?,
    );
    let smtp = Arc::new(SmtpListeners::new(
        engine.clone(),
        TlsAcceptor::from(server_tls.clone()),
    ));

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut listeners = Vec::new();
    for (kind, addr) in engine.cfg.listeners.clone() {
        let listener = TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} ({}): is the port in use, or privileged (below 1024 needs root or CAP_NET_BIND_SERVICE)?", kind.name())
        })?;
        listeners.push((kind, listener.local_addr()?));
        tasks.spawn(crate::smtp::serve(
            listener,
            kind,
            smtp.clone(),
            shutdown_rx.clone(),
        ));
    }
    tasks.spawn(facteur_http::serve(
        http_listener,
        engine.clone(),
        shutdown_rx.clone(),
    ));
    if let Some(listener) = https_listener {
        tasks.spawn(facteur_http::serve_tls(
            listener,
            engine.clone(),
            shutdown_rx.clone(),
            TlsAcceptor::from(server_tls),
        ));
    }
    let scheduler = engine
        .start(&mut tasks, shutdown_rx)
        .await?
        .map(|b| b.scheduler);
    Ok(Running {
        app: engine,
        listeners,
        http,
        https,
        tls_description,
        shutdown,
        tasks,
        scheduler,
    })
}
