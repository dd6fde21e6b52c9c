//! Event callback URLs (Mailjet's `eventcallbackurl`) and the durable outbox of calls to them.
//!
//! The dispatcher reads the `events` table from a cursor: in one transaction it takes the
//! cursor's row lock (so nodes sharing a PostgreSQL take turns), turns new events into calls
//! for the hooks that want them, stores the calls and moves the cursor. Calls are then leased,
//! made, and deleted once answered 200, or rescheduled: no event is lost between the two.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, BounceClass, Error, EventKind, Result, Store};

/// The event types a URL can subscribe to (Mailjet's names).
pub const EVENT_TYPES: [&str; 7] = [
    "sent", "open", "click", "bounce", "spam", "blocked", "unsub",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub account_id: i64,
    pub event_type: String,
    pub url: String,
    /// 1: one event per call; 2: the events of the last second grouped in an array.
    pub version: i64,
    pub is_backup: bool,
    /// `alive` or `dead` (given up on after failing for the retry window).
    pub status: String,
    pub created_at: i64,
}

/// What may change on a callback URL; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub event_type: Option<String>,
    pub url: Option<String>,
    pub version: Option<i64>,
    pub is_backup: Option<bool>,
    pub status: Option<String>,
}

/// A stored event with what its webhook payload needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub kind: EventKind,
    pub detail: String,
    /// The remote reply line that decided it, if one did.
    pub reply: Option<String>,
    pub class: Option<BounceClass>,
    /// The host that answered, or for a complaint the feedback program that reported it.
    pub remote_host: Option<String>,
    pub account_id: Option<i64>,
    pub message_id: i64,
    /// The recipient's id and UUID (Mailjet's MessageID and Message_GUID).
    pub recipient_id: Option<i64>,
    pub uuid: String,
    pub address: String,
    pub custom_id: String,
    pub event_payload: String,
    pub campaign: String,
    /// An open's or a click's client address and user agent; a click's link; whether a
    /// machine did it (a privacy proxy, a link scanner).
    pub ip: Option<String>,
    pub agent: Option<String>,
    pub url: Option<String>,
    pub machine: bool,
}

/// A call to store: its JSON body for one hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    pub webhook_id: i64,
    pub body: String,
}

/// A leased call, ready to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookCall {
    pub id: i64,
    pub hook: Webhook,
    /// The account's backup URL for the same event type, if it has one.
    pub backup: Option<Webhook>,
    pub body: String,
    pub attempts: i64,
    pub first_failed_at: Option<i64>,
    /// The account's secret the call is signed with.
    pub signing_secret: String,
}

/// How many recent calls the log keeps per callback URL.
pub const CALL_LOG_KEPT: i64 = 50;

/// One call made to a callback URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLogEntry {
    pub at: i64,
    pub ok: bool,
    /// Which attempt of its call it was (1 for the first).
    pub attempt: i64,
    /// Why it failed ("" when it succeeded).
    pub error: String,
}

/// One URL a call was posted to, and how it went: the primary URL, then its backup when the
/// primary failed. Each goes to the log of the URL it was posted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    pub webhook_id: i64,
    /// Which attempt of its call it was (1 for the first).
    pub attempt: i64,
    pub ok: bool,
    /// Why it failed ("" when it succeeded).
    pub error: String,
}

/// Logs the URLs an attempt was posted to (in the caller's transaction). Each URL keeps its
/// last [`CALL_LOG_KEPT`] entries: older ones are trimmed every 16th entry (reads take the
/// newest [`CALL_LOG_KEPT`]), not on every call.
async fn log_call(tx: &mut crate::tx::Tx, now: i64, tried: &[Tried]) -> Result<()> {
    for t in tried {
        let id: i64 = sqlx::query(
            "INSERT INTO webhook_call_log (webhook_id, at, ok, attempt, error)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(t.webhook_id)
        .bind(now)
        .bind(i64::from(t.ok))
        .bind(t.attempt)
        .bind(t.error.chars().take(500).collect::<String>())
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        if id % 16 == 0 {
            sqlx::query(
                "DELETE FROM webhook_call_log WHERE webhook_id = $1 AND id <= (
                     SELECT id FROM webhook_call_log WHERE webhook_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(t.webhook_id)
            .bind(CALL_LOG_KEPT)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

const HOOK_COLS: &str = "id, account_id, event_type, url, version, is_backup, status, created_at";

fn hook_from_row(r: &AnyRow) -> Result<Webhook> {
    Ok(Webhook {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        event_type: r.try_get("event_type")?,
        url: r.try_get("url")?,
        version: r.try_get("version")?,
        is_backup: r.try_get::<i64, _>("is_backup")? != 0,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
    })
}

fn check_hook(event_type: &str, version: i64, status: &str) -> Result<()> {
    if !EVENT_TYPES.contains(&event_type) {
        return Err(Error::Invalid(format!(
            "EventType \"{event_type}\" is not one of {}",
            EVENT_TYPES.join(", ")
        )));
    }
    if version != 1 && version != 2 {
        return Err(Error::Invalid(
            "Version must be 1 (one event per call) or 2 (grouped events)".into(),
        ));
    }
    if status != "alive" && status != "dead" {
        return Err(Error::Invalid("Status must be alive or dead".into()));
    }
    Ok(())
}

impl Store {
    pub async fn create_webhook(
        &self,
        account_id: i64,
        event_type: &str,
        url: &str,
        version: i64,
        is_backup: bool,
        now: i64,
    ) -> Result<Webhook> {
        check_hook(event_type, version, "alive")?;
        if self
            .webhooks(account_id)
            .await?
            .iter()
            .any(|h| h.event_type == event_type && h.is_backup == is_backup)
        {
            return Err(Error::Conflict(format!(
                "A {}callback URL for EventType \"{event_type}\" already exists",
                if is_backup { "backup " } else { "" }
            )));
        }
        // Calls are signed with the account's secret: make sure it has one (accounts made
        // before webhooks existed get it here).
        self.signing_secret(account_id).await?;
        let id = self.ids.next(now);
        sqlx::query(
            "INSERT INTO webhooks (id, account_id, event_type, url, version, is_backup, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'alive', $7)",
        )
        .bind(id)
        .bind(account_id)
        .bind(event_type)
        .bind(url)
        .bind(version)
        .bind(i64::from(is_backup))
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.webhook(account_id, id).await
    }

    pub async fn webhooks(&self, account_id: i64) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HOOK_COLS} FROM webhooks WHERE account_id = $1 ORDER BY id"
        )))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(hook_from_row).collect()
    }

    pub async fn webhook(&self, account_id: i64, id: i64) -> Result<Webhook> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HOOK_COLS} FROM webhooks WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        hook_from_row(&row)
    }

    /// Changes a callback URL. A new URL makes a dead hook alive again (as on Mailjet).
    pub async fn update_webhook(
        &self,
        account_id: i64,
        id: i64,
        change: &WebhookChange,
    ) -> Result<Webhook> {
        let old = self.webhook(account_id, id).await?;
        let event_type = change.event_type.clone().unwrap_or(old.event_type.clone());
        let is_backup = change.is_backup.unwrap_or(old.is_backup);
        let version = change.version.unwrap_or(old.version);
        let url = change.url.clone().unwrap_or(old.url.clone());
        let status = match (&change.status, &change.url) {
            (Some(s), _) => s.clone(),
            (None, Some(u)) if *u != old.url => "alive".to_string(),
            _ => old.status.clone(),
        };
        check_hook(&event_type, version, &status)?;
        if (event_type != old.event_type || is_backup != old.is_backup)
            && self
                .webhooks(account_id)
                .await?
                .iter()
                .any(|h| h.id != id && h.event_type == event_type && h.is_backup == is_backup)
        {
            return Err(Error::Conflict(format!(
                "A callback URL for EventType \"{event_type}\" already exists"
            )));
        }
        sqlx::query(
            "UPDATE webhooks SET event_type = $1, url = $2, version = $3, is_backup = $4, status = $5
             WHERE id = $6 AND account_id = $7",
        )
        .bind(&event_type)
        .bind(&url)
        .bind(version)
        .bind(i64::from(is_backup))
        .bind(&status)
        .bind(id)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        self.webhook(account_id, id).await
    }

    pub async fn delete_webhook(&self, account_id: i64, id: i64) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if done == 0 {
            return Err(Error::NotFound);
        }
        sqlx::query("DELETE FROM webhook_calls WHERE webhook_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Turns events newer than the cursor into stored calls, through `build` (given the new
    /// events and every hook). Returns how many events were read.
    pub async fn collect_webhook_calls<F>(&self, now: i64, limit: i64, build: F) -> Result<usize>
    where
        F: FnOnce(&[EventRow], &[Webhook]) -> Vec<NewCall>,
    {
        // On PostgreSQL, a transaction of another node may commit an older event id after a
        // newer one: events younger than this wait for the next round so none is skipped. On
        // SQLite one writer commits ids in order.
        let lag_ms = match self.backend {
            Backend::Sqlite => 0,
            Backend::Postgres => 2000,
        };
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        // Writing first takes the lock at once: nodes (and SQLite connections) take turns.
        sqlx::query(
            "UPDATE webhook_cursor SET last_event_id = last_event_id WHERE name = 'events'",
        )
        .execute(&mut *tx)
        .await?;
        let cursor: i64 =
            sqlx::query("SELECT last_event_id FROM webhook_cursor WHERE name = 'events'")
                .fetch_one(&mut *tx)
                .await?
                .try_get("last_event_id")?;
        let hooks = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HOOK_COLS} FROM webhooks ORDER BY id"
        )))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(hook_from_row)
        .collect::<Result<Vec<_>>>()?;
        let rows = sqlx::query(
            "SELECT e.id AS id, e.at AS at, e.kind AS kind, e.detail AS detail,
                    e.reply AS reply, e.bounce_class AS bounce_class, e.remote_host AS remote_host,
                    e.ip AS ip, e.agent AS agent, e.url AS url, COALESCE(e.machine, 0) AS machine,
                    e.message_id AS message_id, COALESCE(e.recipient, '') AS address,
                    m.account_id AS account_id, m.custom_id AS custom_id,
                    m.event_payload AS event_payload, m.campaign AS campaign,
                    r.id AS recipient_id, COALESCE(r.uuid, '') AS uuid
             FROM events e JOIN messages m ON m.id = e.message_id
             LEFT JOIN recipients r ON r.message_id = e.message_id AND r.address = e.recipient
             WHERE e.id > $1 ORDER BY e.id LIMIT $2",
        )
        .bind(cursor)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            let at: i64 = r.try_get("at")?;
            if at > now - lag_ms {
                break;
            }
            events.push(EventRow {
                id: r.try_get("id")?,
                at,
                kind: crate::event_kind(&r.try_get::<String, _>("kind")?)?,
                detail: r.try_get("detail")?,
                reply: r.try_get("reply")?,
                class: r
                    .try_get::<Option<String>, _>("bounce_class")?
                    .as_deref()
                    .and_then(BounceClass::parse),
                remote_host: r.try_get("remote_host")?,
                account_id: r.try_get("account_id")?,
                message_id: r.try_get("message_id")?,
                recipient_id: r.try_get("recipient_id")?,
                uuid: r.try_get("uuid")?,
                address: r.try_get("address")?,
                custom_id: r.try_get("custom_id")?,
                event_payload: r.try_get("event_payload")?,
                campaign: r.try_get("campaign")?,
                ip: r.try_get("ip")?,
                agent: r.try_get("agent")?,
                url: r.try_get("url")?,
                machine: r.try_get::<i64, _>("machine")? != 0,
            });
        }
        let Some(last) = events.last().map(|e| e.id) else {
            tx.rollback().await?;
            return Ok(0);
        };
        let calls = if hooks.is_empty() {
            Vec::new()
        } else {
            build(&events, &hooks)
        };
        for call in &calls {
            sqlx::query(
                "INSERT INTO webhook_calls (id, webhook_id, body, next_attempt_at, created_at)
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(self.ids.next(now))
            .bind(call.webhook_id)
            .bind(&call.body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE webhook_cursor SET last_event_id = $1 WHERE name = 'events'")
            .bind(last)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(events.len())
    }

    /// Leases due calls until `now + lease_ms`.
    pub async fn claim_webhook_calls(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<WebhookCall>> {
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let ids: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_calls SET lease_until = $1
             WHERE id IN (SELECT id FROM webhook_calls
                          WHERE next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2)
                          ORDER BY next_attempt_at LIMIT $3 {lock})
             RETURNING id"
        )))
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<std::result::Result<_, _>>()?;
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        // Integers read back from the database: safe to inline.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT c.id AS call_id, c.body AS body, c.attempts AS attempts,
                    c.first_failed_at AS first_failed_at, a.signing_secret AS signing_secret,
                    h.id AS id, h.account_id AS account_id, h.event_type AS event_type, h.url AS url,
                    h.version AS version, h.is_backup AS is_backup, h.status AS status,
                    h.created_at AS created_at
             FROM webhook_calls c JOIN webhooks h ON h.id = c.webhook_id
             JOIN accounts a ON a.id = h.account_id
             WHERE c.id IN ({list}) ORDER BY c.id"
        )))
        .fetch_all(&mut *tx)
        .await?;
        let backups = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {HOOK_COLS} FROM webhooks WHERE is_backup = 1"
        )))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(hook_from_row)
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let hook = hook_from_row(r)?;
                let backup = backups
                    .iter()
                    .find(|b| {
                        !hook.is_backup
                            && b.account_id == hook.account_id
                            && b.event_type == hook.event_type
                    })
                    .cloned();
                Ok(WebhookCall {
                    id: r.try_get("call_id")?,
                    hook,
                    backup,
                    body: r.try_get("body")?,
                    attempts: r.try_get("attempts")?,
                    first_failed_at: r.try_get("first_failed_at")?,
                    signing_secret: r.try_get("signing_secret")?,
                })
            })
            .collect()
    }

    /// A call was answered 200 (by the last URL `tried`): it is done.
    pub async fn webhook_call_done(&self, id: i64, now: i64, tried: &[Tried]) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        log_call(&mut tx, now, tried).await?;
        sqlx::query("DELETE FROM webhook_calls WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The most recent calls of an account's callback URL (at most [`CALL_LOG_KEPT`]), newest
    /// first, and how many of its calls wait to be made (or made again).
    pub async fn webhook_call_log(
        &self,
        account_id: i64,
        webhook_id: i64,
    ) -> Result<(Vec<CallLogEntry>, i64)> {
        self.webhook(account_id, webhook_id).await?;
        let rows = sqlx::query(
            "SELECT at, ok, attempt, error FROM webhook_call_log WHERE webhook_id = $1
             ORDER BY id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(CALL_LOG_KEPT)
        .fetch_all(&self.pool)
        .await?;
        let pending: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM webhook_calls WHERE webhook_id = $1")
                .bind(webhook_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        let log = rows
            .iter()
            .map(|r| {
                Ok(CallLogEntry {
                    at: r.try_get("at")?,
                    ok: r.try_get::<i64, _>("ok")? != 0,
                    attempt: r.try_get("attempt")?,
                    error: r.try_get("error")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((log, pending))
    }

    /// A call failed: try again at `next_attempt_at`.
    pub async fn webhook_call_failed(
        &self,
        id: i64,
        now: i64,
        next_attempt_at: i64,
        error: &str,
        tried: &[Tried],
    ) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        log_call(&mut tx, now, tried).await?;
        sqlx::query(
            "UPDATE webhook_calls SET attempts = attempts + 1, next_attempt_at = $1,
                 first_failed_at = COALESCE(first_failed_at, $2), last_error = $3, lease_until = NULL
             WHERE id = $4",
        )
        .bind(next_attempt_at)
        .bind(now)
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A call failed for the whole retry window: it is dropped and its URL marked `dead`.
    pub async fn webhook_call_abandoned(
        &self,
        id: i64,
        webhook_id: i64,
        now: i64,
        tried: &[Tried],
    ) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let tried: Vec<Tried> = tried
            .iter()
            .map(|t| Tried {
                error: format!("{} (given up: the URL is marked dead)", t.error),
                ..t.clone()
            })
            .collect();
        log_call(&mut tx, now, &tried).await?;
        sqlx::query("DELETE FROM webhook_calls WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE webhooks SET status = 'dead' WHERE id = $1")
            .bind(webhook_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
