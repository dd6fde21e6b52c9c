//! The delivery loop: claims due queue rows (with a lease, so several nodes can share one
//! queue), runs attempts within the worker limit, records outcomes, schedules retries with the
//! pure policy of [`crate::queue`], and spools DSNs for bounced and expired recipients in the
//! same transaction as the outcomes.

use std::sync::Arc;
use std::time::Duration;

use facteur_message::{Dsn, DsnAction, DsnRecipient, build_dsn};
use facteur_store::{NewMessage, QueueEntry, RcptStatus};
use tokio::sync::{Semaphore, watch};

use crate::app::App;
use crate::delivery::RcptResult;
use crate::metrics::Metrics;
use crate::time::now_ms;

/// Most rows claimed at once (their bodies are held in memory until delivered).
const CLAIM_BATCH: usize = 200;
/// Longest sleep between two looks at the queue when nothing signals new work.
const IDLE_POLL: Duration = Duration::from_secs(5);

pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let workers = Arc::new(Semaphore::new(app.cfg.delivery_workers));
    let lease_ms = app.cfg.lease.as_millis() as i64;
    // Deliveries belong to this loop: if it is aborted, so are they (their rows' leases then
    // expire and another node, or this one after a restart, takes them over).
    let mut deliveries = tokio::task::JoinSet::new();
    loop {
        while deliveries.try_join_next().is_some() {}
        if *shutdown.borrow() {
            break;
        }
        let free = workers.available_permits();
        if free == 0 {
            tokio::select! {
                permit = workers.clone().acquire_owned() => drop(permit),
                _ = shutdown.changed() => break,
            }
            continue;
        }
        let now = now_ms();
        match app
            .writer
            .claim(&app.node_id, now, lease_ms, free.min(CLAIM_BATCH) as i64)
            .await
        {
            Ok(entries) if !entries.is_empty() => {
                for entry in entries {
                    let Ok(permit) = workers.clone().acquire_owned().await else {
                        return;
                    };
                    let app = app.clone();
                    deliveries.spawn(async move {
                        deliver(&app, entry).await;
                        drop(permit);
                        // A finished attempt may have spooled a DSN or freed a slot.
                        app.queue_wakeup.notify_one();
                    });
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the queue; retrying"),
        }
        let wait = match app.store.next_due().await {
            Ok(Some(at)) => {
                Duration::from_millis((at - now).clamp(0, IDLE_POLL.as_millis() as i64) as u64)
            }
            _ => IDLE_POLL,
        };
        tokio::select! {
            _ = app.queue_wakeup.notified() => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(5))) => {}
            _ = shutdown.changed() => break,
        }
    }
    // Stopping: give attempts under way a moment to finish and record their outcome.
    let _ = tokio::time::timeout(Duration::from_secs(8), async {
        while deliveries.join_next().await.is_some() {}
    })
    .await;
}

/// One attempt for one claimed row, recorded.
pub async fn deliver(app: &App, mut entry: QueueEntry) {
    let body = std::mem::take(&mut entry.body);
    let now = now_ms();
    let mut results = if now >= entry.expires_at {
        Vec::new()
    } else {
        app.deliverer.attempt(&entry, &body).await
    };
    if results.is_empty() {
        results = entry
            .recipients
            .iter()
            .map(|r| RcptResult {
                outcome: facteur_store::RcptOutcome {
                    recipient_id: r.id,
                    address: r.address.clone(),
                    status: RcptStatus::Deferred,
                    detail: r.last_reply.clone().unwrap_or_default(),
                },
                status_code: "4.4.7".into(),
                remote: None,
            })
            .collect();
    }
    let now = now_ms();
    let attempts = (entry.attempts + 1) as u32;
    let next =
        crate::queue::next_attempt(&app.cfg.retry, attempts, now, entry.expires_at, jitter());
    if next.is_none() {
        for r in results
            .iter_mut()
            .filter(|r| r.outcome.status == RcptStatus::Deferred)
        {
            r.outcome.status = RcptStatus::Expired;
            r.outcome.detail = format!(
                "delivery time expired after {attempts} attempts; last error: {}",
                r.outcome.detail
            );
            r.status_code = "4.4.7".into();
        }
    }
    let failed: Vec<&RcptResult> = results
        .iter()
        .filter(|r| matches!(r.outcome.status, RcptStatus::Bounced | RcptStatus::Expired))
        .collect();
    // Never a bounce for a bounce: mail with the null sender gets no DSN.
    let dsn = (!failed.is_empty() && !entry.mail_from.is_empty())
        .then(|| dsn_message(app, &entry, &body, &failed, now));
    let record = facteur_store::AttemptRecord {
        queue_id: entry.id,
        message_id: entry.message_id,
        outcomes: results.iter().map(|r| r.outcome.clone()).collect(),
        next_attempt_at: next.unwrap_or(now),
        now,
        dsn,
    };
    let Some(dsn_id) = record_until_stored(app, &entry, record).await else {
        return;
    };
    for r in &results {
        let counter = match r.outcome.status {
            RcptStatus::Sent => &app.metrics.deliveries_sent_total,
            RcptStatus::Bounced => &app.metrics.deliveries_bounced_total,
            RcptStatus::Expired => &app.metrics.deliveries_expired_total,
            _ => &app.metrics.deliveries_deferred_total,
        };
        Metrics::inc(counter);
        // One line per attempt would drown the log under load (a next hop down defers every
        // recipient again and again): failures that end a recipient are INFO, the rest DEBUG,
        // and `summaries` writes what happened each minute.
        if matches!(r.outcome.status, RcptStatus::Bounced | RcptStatus::Expired) {
            tracing::info!(msg_id = entry.message_id, rcpt = %r.outcome.address, status = r.outcome.status.as_str(), detail = %r.outcome.detail, "delivery failed");
        } else {
            tracing::debug!(msg_id = entry.message_id, rcpt = %r.outcome.address, status = r.outcome.status.as_str(), detail = %r.outcome.detail, "delivery attempt");
        }
    }
    if let Some(id) = dsn_id {
        Metrics::inc(&app.metrics.dsn_generated_total);
        tracing::info!(msg_id = entry.message_id, dsn = id, to = %entry.mail_from, "DSN queued");
    }
}

/// Records an attempt, trying again while the store fails (a full disk, a lost database) for as
/// long as the row's lease lasts: the message was handed to the next hop already, and an
/// outcome that is not stored makes it go out a second time. `None` when the lease ran out
/// first (the row is then claimed again: a documented duplicate window).
async fn record_until_stored(
    app: &App,
    entry: &QueueEntry,
    record: facteur_store::AttemptRecord,
) -> Option<Option<i64>> {
    let give_up =
        tokio::time::Instant::now() + app.cfg.lease.saturating_sub(Duration::from_secs(5));
    let mut wait = Duration::from_millis(200);
    let mut tries = 0u32;
    loop {
        match app.writer.record(record.clone()).await {
            Ok(dsn_id) => {
                if tries > 0 {
                    tracing::info!(
                        msg_id = entry.message_id,
                        tries,
                        "delivery outcome recorded after the store came back"
                    );
                }
                return Some(dsn_id);
            }
            Err(e) => {
                tries += 1;
                Metrics::inc(&app.metrics.store_failures_total);
                if tokio::time::Instant::now() + wait >= give_up {
                    tracing::error!(error = %e, msg_id = entry.message_id, "cannot record the delivery outcome before the lease ends; the row will be tried again");
                    return None;
                }
                if tries == 1 || tries.is_multiple_of(20) {
                    tracing::warn!(error = %e, msg_id = entry.message_id, tries, "cannot record the delivery outcome; retrying");
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Writes one INFO line a minute with what delivery did in that minute (when it did anything).
pub async fn summaries(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    use std::sync::atomic::Ordering::Relaxed;
    let read = |app: &App| {
        let m = &app.metrics;
        [
            m.deliveries_sent_total.load(Relaxed),
            m.deliveries_deferred_total.load(Relaxed),
            m.deliveries_bounced_total.load(Relaxed),
            m.deliveries_expired_total.load(Relaxed),
            m.messages_accepted_total.load(Relaxed),
        ]
    };
    let mut last = read(&app);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
        let now = read(&app);
        let d: Vec<u64> = now.iter().zip(last).map(|(n, l)| n - l).collect();
        last = now;
        if d.iter().any(|&x| x > 0) {
            let queue = app.store.queue_len().await.unwrap_or(-1);
            tracing::info!(
                accepted = d[4],
                sent = d[0],
                deferred = d[1],
                bounced = d[2],
                expired = d[3],
                queue,
                "last minute"
            );
        }
    }
}

/// The DSN reporting `failed` recipients to the original sender, ready to spool.
fn dsn_message(
    app: &App,
    entry: &QueueEntry,
    body: &[u8],
    failed: &[&RcptResult],
    now: i64,
) -> NewMessage {
    let recipients = failed
        .iter()
        .map(|r| DsnRecipient {
            address: r.outcome.address.clone(),
            action: DsnAction::Failed,
            status: r.status_code.clone(),
            remote_mta: r.remote.clone(),
            diagnostic: r.outcome.detail.clone(),
        })
        .collect();
    let original = Original {
        id: entry.message_id,
        account_id: entry.account_id,
        mail_from: &entry.mail_from,
        created_at: entry.created_at,
        body,
    };
    bounce(app, &original, recipients, now)
}

/// A message as a bounce reports it.
pub struct Original<'a> {
    pub id: i64,
    pub account_id: Option<i64>,
    /// Its envelope sender: where the bounce goes.
    pub mail_from: &'a str,
    /// Unix milliseconds.
    pub created_at: i64,
    pub body: &'a [u8],
}

/// The bounce (RFC 3464 DSN, null sender) telling `original`'s sender about `recipients`,
/// ready to spool: for failed deliveries, and for messages blocked at accept.
pub fn bounce(
    app: &App,
    original: &Original<'_>,
    recipients: Vec<DsnRecipient>,
    now: i64,
) -> NewMessage {
    let dsn = Dsn {
        reporting_mta: &app.cfg.hostname,
        original_sender: original.mail_from,
        original_envelope_id: original.id,
        arrival_date: original.created_at / 1000,
        now: now / 1000,
        recipients,
        original_message: original.body,
        message_id: format!("{}@{}", uuid::Uuid::now_v7().simple(), app.cfg.hostname),
        boundary: format!("dsn-{}", uuid::Uuid::now_v7().simple()),
    };
    NewMessage {
        account_id: original.account_id,
        mail_from: String::new(),
        recipients: vec![original.mail_from.to_string()],
        body: build_dsn(&dsn),
        priority: facteur_store::PRIORITY_DEFAULT,
        now,
        expires_at: now + app.cfg.retry.lifetime.as_millis() as i64,
        meta: Default::default(),
    }
}

fn jitter() -> f64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}
