//! Persistence behind one interface: accounts and keys, the spool (message bodies, stored once),
//! the queue (one row per message and recipient domain, with attempts and leases), recipients
//! with their state, and the events of every state change.
//!
//! SQL is written once, in a dialect SQLite and PostgreSQL share (`$N` placeholders in order of
//! first use, `RETURNING`, integer milliseconds for time), so that a second backend is an
//! added connection type, not a second copy of the queries. Time is always passed in (`now`,
//! Unix milliseconds): the store never reads a clock.

mod accounts;
pub use accounts::TrackingSettings;
mod batch;
pub mod capture;
pub mod collab;
mod engagement;
pub mod identity;
mod ids;
pub mod inbound;
pub mod messages;
pub mod people;
mod queue;
mod schema;
pub mod senders;
mod spool;
pub mod stats;
pub mod templates;
pub mod testing;
mod tx;
pub mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use facteur_message::outcome::{BounceClass, EventKind};
pub use ids::IdGen;
pub use spool::GroupCommit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// Bad input: the request cannot be done as given.
    #[error("{0}")]
    Invalid(String),
    /// Bad input: it would duplicate what exists.
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached or could not write (disk full, read-only, restarted);
    /// callers answer with a temporary failure (SMTP 451 4.3.0, HTTP 503) and nothing is lost:
    /// a write that reports this did not commit.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Unavailable(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub api_key: String,
    pub created_at: i64,
    /// The master account of a sub-account key; `None` for a master key.
    pub parent_id: Option<i64>,
    /// An inactive key is refused (Mailjet's suspended key).
    pub is_active: bool,
    /// Whether messages may set a `Sender` different from `From`.
    pub allow_sender: bool,
    /// Whether its messages that leave it to the account (`account_default`) track opens and
    /// clicks; `None`: the server's `track_opens` / `track_clicks`.
    pub track_opens: Option<bool>,
    pub track_clicks: Option<bool>,
    /// The base URL of its tracking and unsubscribe links (Mailjet's `TrackHost`); empty: the
    /// server's `public_url`.
    pub track_host: String,
}

/// What may change on a key ([`Store::update_key`]); `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub is_active: Option<bool>,
    pub allow_sender: Option<bool>,
    /// `Some(None)`: back to the server's default.
    pub track_opens: Option<Option<bool>>,
    pub track_clicks: Option<Option<bool>>,
    /// `Some("")`: back to `public_url`.
    pub track_host: Option<String>,
}

/// What the Send API and the X-MJ headers attach to a message: echoed in events and looked up
/// through `/v3/REST/message`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMeta {
    pub custom_id: String,
    pub event_payload: String,
    pub campaign: String,
    pub subject: String,
    /// Set when the message must not be delivered (e.g. an error in the template language):
    /// every recipient is recorded `blocked` with this reason and no queue row is made.
    pub blocked: Option<Blocked>,
    /// Recipients not to send to (on a suppression list), with why: recorded `blocked` with
    /// the `preblocked` class; the others are queued as usual.
    pub preblocked: Vec<(String, String)>,
    /// What is tracked, rewritten per recipient at delivery: [`TRACK_OPENS`], [`TRACK_CLICKS`].
    pub tracking: u8,
}

/// The open pixel is added (a [`MessageMeta::tracking`] bit).
pub const TRACK_OPENS: u8 = 1;
/// Links go through click URLs (a [`MessageMeta::tracking`] bit).
pub const TRACK_CLICKS: u8 = 2;
/// Marketing mail: each copy gets its own unsubscribe link (`List-Unsubscribe`, RFC 8058
/// one-click, the `[[UNSUB_LINK_xx]]` placeholders), and the account's unsubscriptions stop it.
pub const TRACK_UNSUB: u8 = 4;

/// A message to spool: the body is stored once, one queue row per recipient domain.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub account_id: Option<i64>,
    /// Envelope sender; empty for the null sender (bounces).
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub body: Vec<u8>,
    /// Higher is delivered first.
    pub priority: i32,
    pub now: i64,
    pub expires_at: i64,
    pub meta: MessageMeta,
}

/// Mailjet's priority queues (`X-Mailjet-Prio`, `Priority`): 0 low (FIFO), 1 before low (LIFO),
/// 2 high (the default), 3 emergency. Stored as the queue row's priority.
pub const PRIORITY_DEFAULT: i32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcptStatus {
    Queued,
    Deferred,
    Sent,
    Bounced,
    Expired,
    Deleted,
    /// Never attempted: refused before delivery (template error).
    Blocked,
}

impl RcptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RcptStatus::Queued => "queued",
            RcptStatus::Deferred => "deferred",
            RcptStatus::Sent => "sent",
            RcptStatus::Bounced => "bounced",
            RcptStatus::Expired => "expired",
            RcptStatus::Deleted => "deleted",
            RcptStatus::Blocked => "blocked",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, RcptStatus::Queued | RcptStatus::Deferred)
    }
}

impl RcptStatus {
    /// The event that records a move to this state.
    pub fn event(self) -> EventKind {
        match self {
            RcptStatus::Queued => EventKind::Queued,
            RcptStatus::Deferred => EventKind::Deferred,
            RcptStatus::Sent => EventKind::Sent,
            RcptStatus::Bounced => EventKind::Bounced,
            RcptStatus::Expired => EventKind::Expired,
            RcptStatus::Deleted => EventKind::Deleted,
            RcptStatus::Blocked => EventKind::Blocked,
        }
    }
}

/// An event kind read from the database.
pub(crate) fn event_kind(s: &str) -> Result<EventKind> {
    EventKind::parse(s)
        .ok_or_else(|| Error::Unavailable(format!("unknown event kind {s:?} in the database")))
}

impl FromStr for RcptStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => RcptStatus::Queued,
            "deferred" => RcptStatus::Deferred,
            "sent" => RcptStatus::Sent,
            "bounced" => RcptStatus::Bounced,
            "expired" => RcptStatus::Expired,
            "deleted" => RcptStatus::Deleted,
            "blocked" => RcptStatus::Blocked,
            // Only Facteur writes these: another value is a damaged row, not bad input.
            other => {
                return Err(Error::Unavailable(format!(
                    "unknown recipient status {other:?} in the database"
                )));
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub id: i64,
    pub address: String,
    pub status: RcptStatus,
    pub last_reply: Option<String>,
    pub updated_at: i64,
}

/// A claimed queue row: what one delivery attempt to one domain needs.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    pub id: i64,
    pub message_id: i64,
    pub account_id: Option<i64>,
    pub domain: String,
    pub mail_from: String,
    pub attempts: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub next_attempt_at: i64,
    /// Recipients of this domain not yet in a final state.
    pub recipients: Vec<Recipient>,
    /// The message, as spooled.
    pub body: Vec<u8>,
    /// Its tracking bits ([`MessageMeta::tracking`]).
    pub tracking: u8,
    /// Its campaign name (empty: none).
    pub campaign: String,
}

impl QueueEntry {
    /// What the statistics of this row's outcomes are counted under (`None` for mail of no
    /// account: Facteur's own reports are not an account's statistics).
    pub fn facts(&self) -> Option<stats::Facts> {
        self.account_id.map(|account_id| stats::Facts {
            account_id,
            campaign: self.campaign.clone(),
            sender: self.mail_from.clone(),
            created_at: self.created_at,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub message_id: i64,
    pub recipient: Option<String>,
    pub kind: EventKind,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct MessageInfo {
    pub id: i64,
    pub account_id: Option<i64>,
    pub mail_from: String,
    pub size: i64,
    pub created_at: i64,
    pub recipients: Vec<Recipient>,
    /// Queue rows still pending: (domain, attempts, next attempt).
    pub queue: Vec<(String, i64, i64)>,
    pub events: Vec<Event>,
}

/// Why a message is not delivered, and the class of that reason (its events' bounce class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub class: BounceClass,
    pub reason: String,
}

/// The reply of a remote server that decided a recipient's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReply {
    /// The host that answered.
    pub host: String,
    pub code: u16,
    /// The reply on one line, as the server wrote it (`550 5.1.1 no such user`).
    pub line: String,
}

/// The result of one delivery attempt for one recipient, computed once where the reply was
/// read: recorded in the recipient's row and its event's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptOutcome {
    pub recipient_id: i64,
    pub address: String,
    pub status: RcptStatus,
    /// What happened, for people (events, DSN diagnostics, `queue show`).
    pub detail: String,
    /// The enhanced status code (`5.1.1`): the server's, or Facteur's for its own decision.
    pub enhanced: String,
    /// The server's reply, when one decided it.
    pub remote: Option<RemoteReply>,
    /// Why it failed; `None` when it did not.
    pub class: Option<BounceClass>,
}

impl RcptOutcome {
    /// An outcome Facteur decided without a server's reply.
    pub fn local(
        recipient_id: i64,
        address: &str,
        status: RcptStatus,
        enhanced: &str,
        class: Option<BounceClass>,
        detail: impl Into<String>,
    ) -> RcptOutcome {
        RcptOutcome {
            recipient_id,
            address: address.to_string(),
            status,
            detail: detail.into(),
            enhanced: enhanced.to_string(),
            remote: None,
            class,
        }
    }
}

/// The outcome of one delivery attempt for one queue row, to be recorded.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub queue_id: i64,
    pub message_id: i64,
    pub outcomes: Vec<RcptOutcome>,
    /// When to try again if some recipient is still deferred.
    pub next_attempt_at: i64,
    pub now: i64,
    /// The row's first attempt (its deferred recipients are counted once, in statistics).
    pub first_attempt: bool,
    /// Who sent the message, when, under which campaign ([`QueueEntry::facts`]): what its
    /// outcomes are counted under. `None`: not an account's mail, not counted.
    pub facts: Option<stats::Facts>,
    /// The bounce report (DSN) for the recipients that failed, spooled in the same transaction
    /// as the outcomes: either both are stored or neither is (and the row is retried).
    pub dsn: Option<NewMessage>,
}

/// A request to lease due queue rows.
#[derive(Debug, Clone)]
pub struct Claim {
    pub owner: String,
    pub now: i64,
    pub lease_ms: i64,
    pub limit: i64,
}

/// One write that may share a transaction with others. All writes go through one writer so
/// that SQLite never has two writers waiting on each other's lock.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Spool(NewMessage),
    Record(AttemptRecord),
    Claim(Claim),
    /// An open or a click of a recipient.
    Engagement(Engagement),
}

/// An open or a click, as the public endpoints saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engagement {
    pub at: i64,
    pub recipient_id: i64,
    /// [`EventKind::Open`], [`EventKind::Click`] or [`EventKind::Unsub`].
    pub kind: EventKind,
    /// The link, for a click.
    pub url: Option<String>,
    /// The link's position in the message (from 0); 0 for an open or an unsubscription.
    pub position: i64,
    pub ip: String,
    pub agent: String,
    /// A machine did it (a privacy proxy, a link scanner), not a person.
    pub machine: bool,
}

/// A spooled message's ids: the message, and each recipient's id and UUID in the order given
/// (Mailjet's `MessageID` and `MessageUUID` are per recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolReceipt {
    pub message_id: i64,
    pub recipients: Vec<(i64, String)>,
}

#[derive(Debug, Clone)]
pub enum WriteResult {
    Spooled(SpoolReceipt),
    /// An attempt was recorded; with the id of the DSN it spooled, if any.
    Recorded {
        dsn: Option<i64>,
    },
    Claimed(Vec<QueueEntry>),
    /// An engagement was recorded.
    Noted,
}

impl WriteResult {
    /// The rows a claim leased.
    pub fn into_claimed(self) -> Result<Vec<QueueEntry>> {
        match self {
            WriteResult::Claimed(entries) => Ok(entries),
            other => Err(Error::Unavailable(format!(
                "expected claimed rows, got {other:?}"
            ))),
        }
    }

    pub fn message_id(&self) -> Option<i64> {
        match self {
            WriteResult::Spooled(r) => Some(r.message_id),
            _ => None,
        }
    }
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded, one node: the default.
    Sqlite,
    /// Shared by several nodes.
    Postgres,
}

/// The WAL size past which a checkpoint waits for readers and truncates the log (SQLite).
pub const WAL_RESET_BYTES: u64 = 64 << 20;

/// The channel on which PostgreSQL nodes announce new work to each other.
pub const QUEUE_CHANNEL: &str = "facteur_queue";

/// When a write probe ran, and what it gave.
type Probe = (i64, std::result::Result<(), String>);

/// Handle to the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
    ids: IdGen,
    /// The last write probe: when, and what it gave.
    probe: std::sync::Arc<std::sync::Mutex<Option<Probe>>>,
    /// Batches and probes that failed to write, for `/metrics`.
    write_failures: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The domain part of an address, lower-cased.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or(address)
        .to_ascii_lowercase()
}

impl Store {
    /// Opens (creating if needed) the database at `url` and runs pending migrations:
    /// `postgres://…` (or `postgresql://…`) for PostgreSQL; `sqlite://PATH` or a plain path
    /// for the embedded SQLite database.
    pub async fn open(url: &str) -> Result<Store> {
        static DRIVERS: std::sync::Once = std::sync::Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Store {
                pool,
                backend: Backend::Postgres,
                url: url.to_string(),
                ids: IdGen::new(),
                probe: Default::default(),
                write_failures: Default::default(),
            }
        } else {
            let path = Path::new(url.strip_prefix("sqlite://").unwrap_or(url));
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Unavailable(format!(
                        "cannot create data directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            let sqlite_url = format!("sqlite://{}?mode=rwc", path.display());
            let pool = AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL; FULL: a commit is on disk (fsync) before it returns, which the
                        // spool's 250 depends on. Checkpoints run in the background (see
                        // `checkpoint`), not inside a committing writer.
                        sqlx::raw_sql(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
                             PRAGMA wal_autocheckpoint = 0; PRAGMA foreign_keys = ON; \
                             PRAGMA journal_size_limit = 67108864;",
                        )
                        .execute(conn)
                        .await?;
                        Ok(())
                    })
                })
                .connect(&sqlite_url)
                .await?;
            Store {
                pool,
                backend: Backend::Sqlite,
                url: sqlite_url,
                ids: IdGen::new(),
                probe: Default::default(),
                write_failures: Default::default(),
            }
        };
        schema::migrate(&store.pool, store.backend).await?;
        Ok(store)
    }

    /// Notifications sent by other nodes on `channel` (PostgreSQL LISTEN). `None` on SQLite,
    /// where one process owns the database and in-process signals suffice. The listener
    /// reconnects by itself after a lost connection.
    pub async fn listen(
        &self,
        channel: &str,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<String>>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url).await?;
        listener.listen(channel).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        if tx.send(n.payload().to_string()).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Some(rx))
    }

    /// Copies committed WAL frames into the database file without blocking writers (SQLite
    /// PASSIVE checkpoint), so the WAL stays small. Called periodically by the group commit.
    /// Under constant reading and writing a passive checkpoint can copy frames but never wrap
    /// the log back to its start, so the WAL file would grow without end: once it holds more
    /// than [`WAL_RESET_BYTES`] (counted in the default 4 KiB pages Facteur's databases use), a
    /// TRUNCATE checkpoint waits for readers (up to the busy
    /// timeout), copies everything and truncates the file.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        let log_pages: i64 = row.try_get(1).unwrap_or(0);
        // Facteur's databases use the default 4 KiB pages.
        let wal_bytes = log_pages.max(0) as u64 * 4096;
        if wal_bytes > WAL_RESET_BYTES {
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.pool)
                .await?;
            let busy: i64 = row.try_get(0).unwrap_or(1);
            if busy != 0 {
                tracing::warn!(
                    wal_bytes,
                    "WAL checkpoint could not finish (readers kept the log busy); retrying"
                );
            }
        }
        Ok(())
    }

    /// Proves that the store can write: a one-row upsert that must reach the disk (a full or
    /// read-only disk, a lost database connection all fail it). Runs at most once a second;
    /// calls in between get the last answer.
    pub async fn write_probe(&self, now: i64) -> Result<()> {
        {
            let last = self.probe.lock().unwrap();
            if let Some((at, result)) = &*last
                && (0..1000).contains(&(now - at))
            {
                return result.clone().map_err(Error::Unavailable);
            }
        }
        let result = sqlx::query(
            "INSERT INTO health_probe (name, at) VALUES ('write', $1) \
             ON CONFLICT (name) DO UPDATE SET at = excluded.at",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot write: {e}"));
        if result.is_err() {
            self.count_write_failure();
        }
        *self.probe.lock().unwrap() = Some((now, result.clone()));
        result.map_err(Error::Unavailable)
    }

    // ---- spool ----------------------------------------------------------------------------

    /// Stores a batch of messages in one transaction (one fsync): message rows, one queue row
    /// per recipient domain, recipient rows and their `queued` events. Returns the message ids.
    pub async fn spool_batch(&self, messages: &[NewMessage]) -> Result<Vec<i64>> {
        let ops: Vec<WriteOp> = messages.iter().cloned().map(WriteOp::Spool).collect();
        Ok(self
            .write_batch(&ops)
            .await?
            .into_iter()
            .map(|r| r.message_id().unwrap_or_default())
            .collect())
    }

    /// Applies several writes in one transaction: one fsync for all of them (group commit).
    pub async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteResult>> {
        // Plan every write first (ids, rows), then write each table in a few statements;
        // claims run last, so they may take rows spooled by this very batch.
        let mut batch = batch::Batch::default();
        let mut results: Vec<Option<WriteResult>> = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(match op {
                WriteOp::Spool(m) => Some(WriteResult::Spooled(batch.spool(&self.ids, m)?)),
                WriteOp::Record(r) => {
                    batch.record(r);
                    let dsn = r
                        .dsn
                        .as_ref()
                        .map(|m| batch.spool(&self.ids, m).map(|r| r.message_id))
                        .transpose()?;
                    Some(WriteResult::Recorded { dsn })
                }
                WriteOp::Claim(_) => None,
                WriteOp::Engagement(e) => {
                    batch.engagement(e);
                    Some(WriteResult::Noted)
                }
            });
        }
        // A failed write closes its connection instead of pooling it (see `tx`).
        let written = match tx::Tx::begin(&self.pool, self.backend).await {
            Ok(tx) => write_planned(tx, batch, ops, results, self.backend).await,
            Err(e) => Err(e),
        };
        if written.is_err() {
            self.count_write_failure();
        }
        written
    }

    fn count_write_failure(&self) {
        self.write_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Writes that failed since the store was opened (group-commit batches and write probes).
    pub fn write_failures(&self) -> u64 {
        self.write_failures
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Writes a planned batch in one transaction on `conn` and commits it.
async fn write_planned(
    mut tx: tx::Tx,
    batch: batch::Batch,
    ops: &[WriteOp],
    mut results: Vec<Option<WriteResult>>,
    backend: Backend,
) -> Result<Vec<WriteResult>> {
    batch.flush(&mut tx, backend).await?;
    for (op, result) in ops.iter().zip(results.iter_mut()) {
        if let WriteOp::Claim(c) = op {
            *result = Some(WriteResult::Claimed(
                queue::claim_in(&mut tx, c, backend).await?,
            ));
        }
    }
    let queues_mail = ops.iter().any(|op| match op {
        WriteOp::Spool(m) => m.meta.blocked.is_none(),
        WriteOp::Record(r) => r.dsn.is_some(),
        WriteOp::Claim(_) | WriteOp::Engagement(_) => false,
    });
    if backend == Backend::Postgres && queues_mail {
        // Delivered with the commit: other nodes' schedulers wake at once.
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(QUEUE_CHANNEL)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    // Every op has its result by now: claims were filled in above.
    results
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::Unavailable("a write produced no result".into()))
}

/// A `LIKE … ESCAPE '\'` pattern for "contains `needle`, any case" (compared with `LOWER(…)`):
/// `%`, `_` and `\` in the needle are plain characters.
pub(crate) fn like_contains(needle: &str) -> String {
    format!(
        "%{}%",
        needle
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}
