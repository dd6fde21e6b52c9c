//! The delivery loop: claims due queue rows (with a lease, so several nodes can share one
//! queue), runs attempts within the worker limit, records outcomes, schedules retries with the
//! pure policy of [`crate::queue`], and spools DSNs for bounced and expired recipients in the
//! same transaction as the outcomes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use facteur_message::outcome::Severity;
use facteur_message::{DsnAction, DsnRecipient};
use facteur_store::identity::SuppressionReason;
use facteur_store::{BounceClass, QueueEntry, RcptOutcome, RcptStatus};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::core::Core;
use crate::delivery::{Deliverer, Destination};
use crate::metrics::Metrics;
use crate::submit::{Original, Submission};
use crate::time::now_ms;

/// Most rows claimed at once (their bodies are held in memory until delivered).
const CLAIM_BATCH: usize = 200;
/// Longest sleep between two looks at the queue when nothing signals new work.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Rows a stalled destination keeps waiting in memory, per slot; the rest go back to the queue
/// (due again after [`POSTPONE`]), so that a destination that does not answer does not hold
/// the rows other destinations could use.
const SITE_BACKLOG: usize = 4;
/// A destination whose every slot is busy and that finished no attempt for this long is
/// stalled.
const STALL: Duration = Duration::from_secs(5);
/// How long a row given back for a stalled destination waits before it is claimed again.
const POSTPONE: Duration = Duration::from_secs(5);

/// Rows waiting for their destination, and the attempts under way there.
struct Site {
    /// Each row with its destination and when its lease was taken.
    ready: VecDeque<(QueueEntry, Destination, Instant)>,
    active: usize,
    /// When an attempt there last finished (or when the site was first seen).
    progress: Instant,
}

impl Default for Site {
    fn default() -> Self {
        Site {
            ready: VecDeque::new(),
            active: 0,
            progress: Instant::now(),
        }
    }
}

impl Site {
    fn stalled(&self, per_site: usize) -> bool {
        self.active >= per_site && self.progress.elapsed() >= STALL
    }
}

/// What a task of the loop is doing, known by its id even when it panics.
enum Task {
    /// Leasing due rows.
    Claiming,
    /// Finding a row's destination.
    Routing,
    /// An attempt to this site.
    Delivering(String),
}

/// What a task of the loop hands back.
enum Output {
    /// The rows leased (with when), or why the queue could not be read; with no row, when the
    /// next one is due.
    Claimed(
        Result<Vec<QueueEntry>, facteur_store::Error>,
        Instant,
        Option<i64>,
    ),
    /// A row's destination, or nothing when it was recorded already (no route, expired).
    Routed(Option<(Box<QueueEntry>, Destination, Instant)>),
    /// An attempt ended (and was recorded).
    Delivered,
}

/// The delivery loop: claims due rows, finds each one's destination, and runs attempts from
/// per-destination ready queues, at most `destination_concurrency` per destination and
/// `delivery_workers` in all. A worker is taken only when a destination has a free slot, so a
/// slow or silent destination holds its own slots and nothing else.
pub async fn run(
    core: Arc<Core>,
    deliverer: Arc<dyn Deliverer>,
    mut shutdown: watch::Receiver<bool>,
) {
    let lease_ms = core.cfg.lease.as_millis() as i64;
    let workers = core.cfg.delivery_workers.max(1);
    let per_site = core.cfg.destination_concurrency.max(1);
    // An attempt starts only in the first half of its row's lease: the other half is for the
    // attempt (bounded by delivery_timeout per step) and for recording it.
    let fresh_for = core.cfg.lease / 2;
    let mut sites: HashMap<String, Site> = HashMap::new();
    // Rows claimed and not finished: routing, ready, or being delivered.
    let mut held = 0usize;
    let mut active = 0usize;
    // Rows whose destination is being looked up.
    let mut routing = 0usize;
    // Tasks belong to this loop: if it is aborted, so are they (their rows' leases then
    // expire and another node, or this one after a restart, takes them over).
    let mut tasks: JoinSet<Output> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, Task> = HashMap::new();
    let mut claim_again = true;
    // One claim at a time, run beside the attempts (a claim is a write: waiting for it here
    // would hold up every start behind a commit).
    let mut claiming = false;
    // Claims wait until a useful number of rows fits, so that a busy queue is leased in
    // batches rather than a commit per finished attempt.
    let claim_at_least = (workers / 4).clamp(1, CLAIM_BATCH);
    // When to look at the queue again if nothing wakes the loop first.
    let mut next_look = tokio::time::Instant::now() + IDLE_POLL;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Start what the free slots allow, fairly: one row per ready site in turn.
        let mut started = true;
        while started && active < workers {
            started = false;
            for (key, site) in sites.iter_mut() {
                if active >= workers {
                    break;
                }
                if site.active >= per_site {
                    continue;
                }
                let Some((entry, to, claimed)) = site.ready.pop_front() else {
                    continue;
                };
                if claimed.elapsed() >= fresh_for {
                    // Its lease is too far gone to start an attempt that must be recorded
                    // before it ends: leave the row to the queue (it is claimed again once the
                    // lease expires), rather than risk a second delivery.
                    held -= 1;
                    started = true;
                    continue;
                }
                site.active += 1;
                active += 1;
                started = true;
                let (core, deliverer) = (core.clone(), deliverer.clone());
                let task = tasks.spawn(async move {
                    deliver(&core, deliverer, entry, to).await;
                    Output::Delivered
                });
                running.insert(task.id(), Task::Delivering(key.clone()));
            }
        }
        sites.retain(|_, s| s.active > 0 || !s.ready.is_empty());
        // A stalled destination keeps a short backlog; its other rows go back to the queue.
        let mut given_back = Vec::new();
        for site in sites.values_mut() {
            let keep = per_site * SITE_BACKLOG;
            if site.stalled(per_site) && site.ready.len() > keep {
                given_back.extend(site.ready.drain(keep..).map(|(entry, _, _)| entry));
            }
        }
        for entry in given_back {
            held -= 1;
            postpone(&core, &entry).await;
        }

        // Rows are claimed for free workers: the rows held count, except those parked at a
        // stalled destination (so that other destinations keep flowing), within a bound on the
        // rows held in memory.
        // (A stalled destination keeps at most SITE_BACKLOG rows a slot, and it takes all its
        // slots in workers to stall: what those hold is bounded already.)
        let (mut waiting, mut parked) = (0, 0);
        for site in sites.values() {
            if site.stalled(per_site) {
                parked += site.ready.len();
            } else {
                waiting += site.ready.len();
            }
        }
        let room = workers
            .saturating_sub(active + routing + waiting)
            .min((workers * 2).saturating_sub(held - parked))
            .min(CLAIM_BATCH);
        // While rows wait in memory, claim only once a batch fits; with none waiting, claim
        // whatever fits.
        if claim_again && !claiming && room > 0 && (room >= claim_at_least || waiting == 0) {
            claim_again = false;
            claiming = true;
            let core = core.clone();
            let task = tasks.spawn(async move {
                let claimed = core
                    .writer
                    .claim(&core.node_id, now_ms(), lease_ms, room as i64)
                    .await;
                let next_due = match &claimed {
                    Ok(rows) if rows.is_empty() => core.store.next_due().await.ok().flatten(),
                    _ => None,
                };
                Output::Claimed(claimed, Instant::now(), next_due)
            });
            running.insert(task.id(), Task::Claiming);
        }
        tokio::select! {
            done = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (id, output) = match done {
                    Some(Ok((id, output))) => (id, Some(output)),
                    // A task panicked (a bug): its row's lease expires and it is tried again.
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "delivery task failed");
                        (e.id(), None)
                    }
                    None => continue,
                };
                match (running.remove(&id), output) {
                    (Some(Task::Claiming), output) => {
                        claiming = false;
                        match output {
                            Some(Output::Claimed(Ok(entries), claimed, _)) if !entries.is_empty() => {
                                claim_again = true;
                                held += entries.len();
                                routing += entries.len();
                                for entry in entries {
                                    let (core, deliverer) = (core.clone(), deliverer.clone());
                                    let task = tasks.spawn(async move {
                                        Output::Routed(route(&core, deliverer, entry, claimed).await)
                                    });
                                    running.insert(task.id(), Task::Routing);
                                }
                            }
                            // Nothing due: sleep until the next row is (or a wake-up comes first).
                            Some(Output::Claimed(Ok(_), _, next_due)) => {
                                let wait = match next_due {
                                    Some(at) => Duration::from_millis(
                                        (at - now_ms()).clamp(5, IDLE_POLL.as_millis() as i64) as u64,
                                    ),
                                    None => IDLE_POLL,
                                };
                                next_look = tokio::time::Instant::now() + wait;
                            }
                            Some(Output::Claimed(Err(e), _, _)) => {
                                tracing::error!(error = %e, "cannot read the queue; retrying");
                                next_look = tokio::time::Instant::now() + Duration::from_secs(1);
                            }
                            _ => next_look = tokio::time::Instant::now() + Duration::from_secs(1),
                        }
                    }
                    (Some(Task::Routing), output) => {
                        routing -= 1;
                        match output {
                            Some(Output::Routed(Some((entry, to, claimed)))) => {
                                let site = sites.entry(to.site.clone()).or_default();
                                if site.stalled(per_site)
                                    && site.ready.len() >= per_site * SITE_BACKLOG
                                {
                                    held -= 1;
                                    postpone(&core, &entry).await;
                                } else {
                                    site.ready.push_back((*entry, to, claimed));
                                }
                            }
                            _ => {
                                held -= 1;
                                claim_again = true;
                            }
                        }
                    }
                    (Some(Task::Delivering(key)), _) => {
                        held -= 1;
                        active -= 1;
                        if let Some(site) = sites.get_mut(&key) {
                            site.active -= 1;
                            site.progress = Instant::now();
                        }
                        claim_again = true;
                    }
                    (None, _) => {}
                }
            }
            _ = core.queue_wakeup.notified() => claim_again = true,
            _ = tokio::time::sleep_until(next_look) => {
                claim_again = true;
                next_look = tokio::time::Instant::now() + IDLE_POLL;
            }
            _ = shutdown.changed() => break,
        }
    }
    // Stopping: give attempts under way a moment to finish and record their outcome.
    let _ = tokio::time::timeout(Duration::from_secs(8), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
}

/// Gives a claimed row back to the queue without an attempt (its destination is stalled).
async fn postpone(core: &Core, entry: &QueueEntry) {
    let at = now_ms() + POSTPONE.as_millis() as i64;
    if let Err(e) = core.store.postpone(entry.id, &core.node_id, at).await {
        tracing::warn!(error = %e, msg_id = entry.message_id, "cannot give a row back; its lease will expire");
    }
}

/// Finds a claimed row's destination; a row with nowhere to go (or expired) is recorded here.
async fn route(
    core: &Core,
    deliverer: Arc<dyn Deliverer>,
    entry: QueueEntry,
    claimed: Instant,
) -> Option<(Box<QueueEntry>, Destination, Instant)> {
    if now_ms() >= entry.expires_at {
        record(core, entry, Vec::new()).await;
        return None;
    }
    match deliverer.route(&entry).await {
        Ok(to) => Some((Box::new(entry), to, claimed)),
        Err(results) => {
            record(core, entry, results).await;
            None
        }
    }
}

/// One attempt for one row at its destination, recorded. A tracked message goes to each
/// recipient with its own copy (its pixel and links, signed), one recipient at a time.
/// Marketing mail is not sent to an address put on a suppression list since it was accepted
/// (an unsubscription takes effect at once, not after the queue's retries).
async fn deliver(
    core: &Arc<Core>,
    deliverer: Arc<dyn Deliverer>,
    mut entry: QueueEntry,
    to: Destination,
) {
    if entry.tracking == 0 {
        let results = deliverer.deliver(&entry, &to, &entry.body).await;
        return record(core, entry, results).await;
    }
    let mut results = Vec::with_capacity(entry.recipients.len());
    if entry.tracking & facteur_store::TRACK_UNSUB != 0
        && let Some(account) = entry.account_id
        && core.may_suppress(Some(account))
    {
        let addresses: Vec<String> = entry.recipients.iter().map(|r| r.address.clone()).collect();
        match core
            .store
            .suppressed(Some(account), &addresses, now_ms())
            .await
        {
            Ok(listed) => {
                let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut entry.recipients)
                    .into_iter()
                    .partition(|r| {
                        listed
                            .iter()
                            .any(|s| s.address.eq_ignore_ascii_case(&r.address))
                    });
                entry.recipients = keep;
                results.extend(gone.iter().map(|r| {
                    RcptOutcome::local(
                        r.id,
                        &r.address,
                        RcptStatus::Blocked,
                        "5.7.1",
                        Some(BounceClass::Preblocked),
                        "preblocked: put on a suppression list (unsubscribed) after the message was accepted",
                    )
                }));
            }
            Err(e) => {
                tracing::warn!(error = %e, msg_id = entry.message_id, "cannot read the suppression lists before sending marketing mail; trying again later");
                return record(core, entry, Vec::new()).await;
            }
        }
    }
    // Rewriting and signing cost CPU: on the blocking pool, all copies at once.
    let now_secs = now_ms() / 1000;
    let copies = {
        let (core, entry) = (core.clone(), entry.clone());
        tokio::task::spawn_blocking(move || {
            entry
                .recipients
                .iter()
                .map(|r| core.personalise(&entry, r.id, now_secs))
                .collect::<Vec<_>>()
        })
        .await
    };
    let copies = match copies {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, msg_id = entry.message_id, "cannot write the recipients' copies; trying again later");
            return record(core, entry, Vec::new()).await;
        }
    };
    for (r, body) in entry.recipients.iter().zip(copies) {
        // The row with this one recipient (its body is `body`, passed beside it).
        let one = QueueEntry {
            id: entry.id,
            message_id: entry.message_id,
            account_id: entry.account_id,
            domain: entry.domain.clone(),
            mail_from: entry.mail_from.clone(),
            attempts: entry.attempts,
            created_at: entry.created_at,
            expires_at: entry.expires_at,
            next_attempt_at: entry.next_attempt_at,
            recipients: vec![r.clone()],
            body: Vec::new(),
            tracking: entry.tracking,
            campaign: entry.campaign.clone(),
        };
        results.extend(deliverer.deliver(&one, &to, &body).await);
    }
    record(core, entry, results).await;
}

/// Records the results of one attempt (none: the row expired, or nothing was tried): the
/// next attempt or expiry, the DSN for the recipients that failed, in one transaction.
async fn record(core: &Core, entry: QueueEntry, mut results: Vec<RcptOutcome>) {
    let body = &entry.body;
    if results.is_empty() {
        results = entry
            .recipients
            .iter()
            .map(|r| {
                RcptOutcome::local(
                    r.id,
                    &r.address,
                    RcptStatus::Deferred,
                    "4.4.7",
                    Some(BounceClass::Connection),
                    r.last_reply.clone().unwrap_or_default(),
                )
            })
            .collect();
    }
    let now = now_ms();
    let attempts = (entry.attempts + 1) as u32;
    let next =
        crate::queue::next_attempt(&core.cfg.retry, attempts, now, entry.expires_at, jitter());
    if next.is_none() {
        for r in results
            .iter_mut()
            .filter(|r| r.status == RcptStatus::Deferred)
        {
            // The last error's reply and class stay: they say why it never went through.
            r.status = RcptStatus::Expired;
            r.detail = format!(
                "delivery time expired after {attempts} attempts; last error: {}",
                r.detail
            );
            r.enhanced = "4.4.7".into();
        }
    }
    let failed: Vec<&RcptOutcome> = results
        .iter()
        .filter(|r| matches!(r.status, RcptStatus::Bounced | RcptStatus::Expired))
        .collect();
    // Never a bounce for a bounce: mail with the null sender gets no DSN.
    let dsn = if !failed.is_empty() && !entry.mail_from.is_empty() {
        match core
            .prepare(dsn_message(core, &entry, body, &failed, now))
            .await
        {
            Ok(prepared) => Some(prepared.message),
            Err(e) => {
                tracing::error!(error = %e, msg_id = entry.message_id, "cannot build the DSN");
                None
            }
        }
    } else {
        None
    };
    let record = facteur_store::AttemptRecord {
        queue_id: entry.id,
        message_id: entry.message_id,
        outcomes: results,
        next_attempt_at: next.unwrap_or(now),
        now,
        first_attempt: entry.attempts == 0,
        facts: entry.facts(),
        dsn,
    };
    let Some(dsn_id) = record_until_stored(core, &entry, &record).await else {
        return;
    };
    for r in &record.outcomes {
        let counter = match r.status {
            RcptStatus::Sent => &core.metrics.deliveries_sent_total,
            RcptStatus::Bounced => &core.metrics.deliveries_bounced_total,
            RcptStatus::Expired => &core.metrics.deliveries_expired_total,
            _ => &core.metrics.deliveries_deferred_total,
        };
        Metrics::inc(counter);
        // One line per attempt would drown the log under load (a next hop down defers every
        // recipient again and again): failures that end a recipient are INFO, the rest DEBUG,
        // and `summaries` writes what happened each minute.
        if matches!(r.status, RcptStatus::Bounced | RcptStatus::Expired) {
            tracing::info!(msg_id = entry.message_id, rcpt = %r.address, status = r.status.as_str(), detail = %r.detail, "delivery failed");
        } else {
            tracing::debug!(msg_id = entry.message_id, rcpt = %r.address, status = r.status.as_str(), detail = %r.detail, "delivery attempt");
        }
    }
    // A recipient that refused for good (no such mailbox, no such domain) is not sent to again;
    // one whose mailbox stays full, once that repeats. Failures that say nothing of the
    // address (no connection, greylisting, our own outage) never suppress. Mail to nobody's
    // account, and DSNs (null sender), have no list.
    if !entry.mail_from.is_empty() {
        for r in &record.outcomes {
            let reason = match (r.status, r.class) {
                (RcptStatus::Bounced, Some(c)) if c.severity() == Severity::Hard => {
                    SuppressionReason::HardBounce
                }
                (RcptStatus::Bounced | RcptStatus::Expired, Some(BounceClass::MailboxFull)) => {
                    SuppressionReason::SoftBounce
                }
                _ => continue,
            };
            core.suppress_after(
                entry.account_id,
                &r.address,
                reason,
                &r.detail,
                Some(entry.message_id),
                now,
            )
            .await;
        }
    }
    if let Some(id) = dsn_id {
        Metrics::inc(&core.metrics.dsn_generated_total);
        tracing::info!(msg_id = entry.message_id, dsn = id, to = %entry.mail_from, "DSN queued");
    }
}

/// Records an attempt, trying again while the store fails (a full disk, a lost database) for as
/// long as the row's lease lasts: the message was handed to the next hop already, and an
/// outcome that is not stored makes it go out a second time. `None` when the lease ran out
/// first (the row is then claimed again: a documented duplicate window).
async fn record_until_stored(
    core: &Core,
    entry: &QueueEntry,
    record: &facteur_store::AttemptRecord,
) -> Option<Option<i64>> {
    let give_up =
        tokio::time::Instant::now() + core.cfg.lease.saturating_sub(Duration::from_secs(5));
    let mut wait = Duration::from_millis(200);
    let mut tries = 0u32;
    loop {
        match core.writer.record(record.clone()).await {
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
                Metrics::inc(&core.metrics.store_failures_total);
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
pub async fn summaries(core: &Core, mut shutdown: watch::Receiver<bool>) {
    use std::sync::atomic::Ordering::Relaxed;
    let read = |core: &Core| {
        let m = &core.metrics;
        [
            m.deliveries_sent_total.load(Relaxed),
            m.deliveries_deferred_total.load(Relaxed),
            m.deliveries_bounced_total.load(Relaxed),
            m.deliveries_expired_total.load(Relaxed),
            m.messages_accepted_total.load(Relaxed),
        ]
    };
    let mut last = read(core);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
        let now = read(core);
        let d: Vec<u64> = now.iter().zip(last).map(|(n, l)| n - l).collect();
        last = now;
        if d.iter().any(|&x| x > 0) {
            let queue = core.store.queue_len().await.unwrap_or(-1);
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

/// The DSN reporting `failed` recipients to the original sender, as a submission.
fn dsn_message(
    core: &Core,
    entry: &QueueEntry,
    body: &[u8],
    failed: &[&RcptOutcome],
    now: i64,
) -> Submission {
    let recipients = failed
        .iter()
        .map(|r| DsnRecipient {
            address: r.address.clone(),
            action: DsnAction::Failed,
            status: r.enhanced.clone(),
            remote_mta: r.remote.as_ref().map(|reply| reply.host.clone()),
            diagnostic: r.detail.clone(),
        })
        .collect();
    let original = Original {
        id: entry.message_id,
        account_id: entry.account_id,
        mail_from: &entry.mail_from,
        created_at: entry.created_at,
        body,
    };
    core.bounce(&original, recipients, now)
}

fn jitter() -> f64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}
