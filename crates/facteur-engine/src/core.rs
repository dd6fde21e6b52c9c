//! What every stage of a message's life shares: the configuration, the store and its group
//! commit writer, metrics, the wake-up of the scheduler, this node's name, the compiled
//! templates and the pipeline's hooks. The pipeline (`submit`), the scheduler and the webhook
//! dispatcher each take a `&Core`; none of them knows the others through it.

use facteur_store::{GroupCommit, Store};
use tokio::sync::Notify;

use crate::config::Config;
use crate::hooks::Hooks;
use crate::metrics::Metrics;
use crate::render::TemplateCache;

pub struct Core {
    pub cfg: Config,
    pub store: Store,
    pub writer: GroupCommit,
    pub metrics: Metrics,
    /// Signalled when new work is spooled, so the scheduler does not wait for its poll.
    pub queue_wakeup: Notify,
    /// This process's name in queue leases.
    pub node_id: String,
    /// Stored templates compiled for sending.
    pub templates: TemplateCache,
    pub hooks: Hooks,
    /// Seals the secrets kept in the database (DKIM private keys).
    pub sealer: crate::identity::Sealer,
    /// Which accounts enforce sender validation, and their active senders.
    pub senders: crate::senders::SenderCheck,
    /// Signs and reads the open and click tokens (a key derived from the secret key).
    pub tracking: facteur_message::tracking::Tokens,
    /// VERP return paths on `bounce_domain`, when one is set.
    pub verp: Option<std::sync::Arc<crate::verp::Verp>>,
    /// The accounts (0: global) that have suppression entries: only their messages' recipients
    /// are looked up. Reloaded with the DKIM keys; [`Core::suppress`] adds at once.
    pub suppressing: std::sync::RwLock<std::collections::HashSet<i64>>,
    /// The DKIM keys that sign, by domain (also a signing hook).
    pub dkim: std::sync::Arc<crate::identity::DkimKeys>,
    /// Base of the links the API returns (MessageHref), without a trailing slash.
    pub public_url: String,
    /// Each account's tracking defaults and host, each domain's host (reloaded every minute;
    /// at once after a change on this node).
    pub track_settings: std::sync::RwLock<crate::tracking::TrackTable>,
}

impl Core {
    /// Puts an address on a suppression list (through here, so this node checks that list
    /// from the next message on; other nodes within a minute).
    pub async fn suppress(
        &self,
        entry: &facteur_store::identity::Suppression,
    ) -> Result<(), facteur_store::Error> {
        self.store.suppress(entry).await?;
        if entry.active {
            self.suppressing
                .write()
                .expect("suppression lock")
                .insert(entry.account_id);
        }
        Ok(())
    }

    /// Whether a message of this account may have suppressed recipients.
    pub fn may_suppress(&self, account_id: Option<i64>) -> bool {
        let set = self.suppressing.read().expect("suppression lock");
        set.contains(&facteur_store::identity::GLOBAL)
            || account_id.is_some_and(|a| set.contains(&a))
    }

    /// Adds the accounts that have suppression entries (on any node). Never removes one: an
    /// account whose list emptied costs a lookup, and a reload racing a local addition cannot
    /// drop it.
    pub async fn reload_suppressing(&self) -> Result<(), facteur_store::Error> {
        let accounts = self.store.accounts_with_suppressions().await?;
        self.suppressing
            .write()
            .expect("suppression lock")
            .extend(accounts);
        Ok(())
    }

    /// A new Message-ID (without angle brackets) on this server's host name: the one format,
    /// for every message Facteur builds or completes.
    pub fn new_message_id(&self) -> String {
        format!("{}@{}", uuid::Uuid::now_v7().simple(), self.cfg.hostname)
    }

    /// When a message accepted at `now` expires (`queue_lifetime`).
    pub fn expiry(&self, now: i64) -> i64 {
        now + self.cfg.retry.lifetime.as_millis() as i64
    }
}
