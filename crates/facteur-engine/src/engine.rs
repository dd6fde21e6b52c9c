//! The engine as a whole: the [`Core`] every stage shares, the per-address limits of the
//! listeners, and the deliverer (SMTP, or the store in capture mode); `open` makes one from a
//! configuration and `start` runs its background work (the scheduler, the webhook dispatcher,
//! the minute summaries, the DKIM key reload). No globals, so several nodes can run in one
//! process.

use std::ops::Deref;
use std::sync::Arc;

use facteur_store::{GroupCommit, Store};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::core::Core;
use crate::delivery::capture::CaptureDeliverer;
use crate::delivery::mx::Resolver;
use crate::delivery::{Deliverer, DeliverySettings, SmtpDeliverer};
use crate::hooks::Hooks;
use crate::limits::{AuthLimiter, ConnectionLimiter};
use crate::metrics::Metrics;

pub struct Engine {
    core: Arc<Core>,
    pub auth_limiter: AuthLimiter,
    /// Connections open per client address and in all, shared by every listener.
    pub connections: ConnectionLimiter,
    pub deliverer: Arc<dyn Deliverer>,
    /// The account of clients on `trusted_networks` (`trusted_account`).
    pub trusted_account_id: Option<i64>,
}

impl Deref for Engine {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

/// This node's stable name in queue leases, kept in `DATA/node-id` (created on first start).
fn node_id(data_dir: &std::path::Path) -> Result<String, String> {
    let path = data_dir.join("node-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = format!("node-{}", uuid::Uuid::now_v7().simple());
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    std::fs::write(&path, &id).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(id)
}

/// The engine's background tasks, once started.
pub struct Background {
    /// The delivery scheduler, to abort it as a crash would (tests).
    pub scheduler: tokio::task::AbortHandle,
}

impl Engine {
    /// Opens the store and builds the engine. `resolver` replaces the system's DNS (tests; no
    /// resolver is made in capture mode); `public_url` is the base of the links the API returns.
    pub async fn open(
        cfg: Config,
        resolver: Option<Resolver>,
        public_url: String,
    ) -> Result<Engine, String> {
        let store = Store::open(&cfg.database)
            .await
            .map_err(|e| format!("opening the database {}: {e}", cfg.database))?;
        let trusted_account_id = match &cfg.trusted_account {
            Some(key) => Some(
                store
                    .account_by_key(key)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("trusted_account {key} is not an API key of this server (see `facteur account list`)"))?
                    .id,
            ),
            None => None,
        };
        let sealer = crate::identity::Sealer::load(cfg.secret_key.as_deref(), &cfg.data_dir)?;
        let verp = cfg
            .bounce_domain
            .as_deref()
            .map(|d| Arc::new(crate::verp::Verp::new(d, sealer.mac_key("verp"))));
        // Capture mode: no resolver, no connection; every message is kept in the store.
        let deliverer: Arc<dyn Deliverer> = if cfg.capture {
            Arc::new(CaptureDeliverer::new(store.clone()))
        } else {
            let resolver = match resolver {
                Some(r) => r,
                None if cfg.relay_host.is_some() => Resolver::Static {
                    routes: Default::default(),
                    hosts: Default::default(),
                },
                None => Resolver::system()?,
            };
            Arc::new(SmtpDeliverer::new(
                DeliverySettings {
                    return_paths: verp.clone(),
                    hostname: cfg.hostname.clone(),
                    relay_host: cfg.relay_host.clone(),
                    mx_port: cfg.mx_port,
                    timeout: cfg.delivery_timeout,
                    idle_per_host: cfg.destination_concurrency,
                },
                resolver,
            ))
        };
        let tracking = facteur_message::tracking::Tokens::new(sealer.mac_key("tracking"));
        let dkim = Arc::new(crate::identity::DkimKeys::default());
        let hooks = Hooks {
            sign: vec![dkim.clone()],
            ..Hooks::default()
        };
        let engine = Engine {
            auth_limiter: AuthLimiter::new(cfg.auth_failures_per_ip),
            connections: ConnectionLimiter::new(cfg.max_connections_per_ip, cfg.max_connections),
            deliverer,
            trusted_account_id,
            core: Arc::new(Core {
                writer: GroupCommit::start(store.clone()),
                store,
                metrics: Metrics::default(),
                queue_wakeup: Notify::new(),
                node_id: node_id(&cfg.data_dir)?,
                templates: Default::default(),
                hooks,
                suppressing: Default::default(),
                sealer,
                verp,
                tracking,
                senders: Default::default(),
                dkim,
                public_url,
                track_settings: Default::default(),
                cfg,
            }),
        };
        let (keys, unopened) = engine
            .reload_dkim_keys()
            .await
            .map_err(|e| format!("loading the DKIM keys: {e}"))?;
        if keys > 0 && unopened == keys {
            return Err(format!(
                "none of the {keys} DKIM keys in the database opens with this node's secret key ({}): give every node the same secret_key, or copy DATA/secret.key from the node that made them",
                if engine.cfg.secret_key.is_some() {
                    "secret_key"
                } else {
                    "DATA/secret.key"
                }
            ));
        }
        engine
            .reload_suppressing()
            .await
            .map_err(|e| format!("loading the suppression lists: {e}"))?;
        engine
            .reload_senders()
            .await
            .map_err(|e| format!("loading the senders: {e}"))?;
        engine
            .reload_tracking()
            .await
            .map_err(|e| format!("loading the tracking settings: {e}"))?;
        Ok(engine)
    }

    /// Starts the scheduler, the webhook dispatcher and the minute summaries in `tasks` (when
    /// the config runs a scheduler on this node); they stop when `shutdown` turns true.
    pub async fn start(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Option<Background>, facteur_store::Error> {
        // Domains, keys and suppression lists changed on another node reach this one within a
        // minute.
        let engine = self.clone();
        let mut stop = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = engine.reload_dkim_keys().await {
                            tracing::warn!(error = %e, "cannot reload the DKIM keys; signing with the ones loaded");
                        }
                        if let Err(e) = engine.reload_suppressing().await {
                            tracing::warn!(error = %e, "cannot reload which accounts have suppression lists");
                        }
                        if let Err(e) = engine.reload_senders().await {
                            tracing::warn!(error = %e, "cannot reload the senders; checking with the ones loaded");
                        }
                        if let Err(e) = engine.reload_tracking().await {
                            tracing::warn!(error = %e, "cannot reload the tracking settings; tracking with the ones loaded");
                        }
                        // What the bounce domain received is kept 30 days.
                        let before = crate::time::now_ms() - crate::inbound::KEEP_REPORTS_MS;
                        match engine.store.purge_inbound(before).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(reports = n, "removed bounce-domain mail older than 30 days"),
                            Err(e) => tracing::warn!(error = %e, "cannot remove old bounce-domain mail"),
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        });
        if !self.cfg.scheduler {
            return Ok(None);
        }
        let freed = self.store.release_leases_of(&self.node_id).await?;
        if freed > 0 {
            tracing::info!(
                rows = freed,
                "took back queue rows leased before the last stop"
            );
        }
        // Other nodes sharing a PostgreSQL queue announce new work: wake at once, not at the
        // next poll.
        if let Some(mut notes) = self.store.listen(facteur_store::QUEUE_CHANNEL).await? {
            let engine = self.clone();
            let mut stop = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        note = notes.recv() => match note {
                            Some(_) => engine.queue_wakeup.notify_one(),
                            None => return,
                        },
                        _ = stop.changed() => return,
                    }
                }
            });
        }
        let engine = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(crate::webhooks::run(engine.core.clone(), stop));
        let engine = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move { crate::scheduler::summaries(&engine.core, stop).await });
        let engine = self.clone();
        let scheduler = tasks.spawn(crate::scheduler::run(
            engine.core.clone(),
            engine.deliverer.clone(),
            shutdown,
        ));
        Ok(Some(Background { scheduler }))
    }
}
