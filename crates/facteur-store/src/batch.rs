//! A group-commit batch as few statements: the rows of every write in the batch are collected,
//! then each table gets one multi-row INSERT, UPDATE … FROM (VALUES …) or DELETE … IN (…)
//! per chunk. On PostgreSQL every statement is a round trip; on SQLite each costs a hop to the
//! connection's thread; either way a batch of a hundred writes becomes a handful of statements.
//! The SQL is the dialect both databases accept (UPDATE … FROM needs SQLite ≥ 3.33).

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;

use crate::stats::{Counter, Facts, Tally};
use crate::{
    AttemptRecord, Backend, BounceClass, Engagement, Error, EventKind, IdGen, NewMessage,
    RcptOutcome, RcptStatus, Result, SpoolReceipt, domain_of,
};

/// Rows per statement: far below both databases' parameter limits.
const CHUNK: usize = 100;

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    I64(i64),
    OptI64(Option<i64>),
    I32(i32),
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
}

pub(crate) fn bind(
    q: Query<'_, sqlx::Any, AnyArguments>,
    v: Val,
) -> Query<'_, sqlx::Any, AnyArguments> {
    match v {
        Val::I64(x) => q.bind(x),
        Val::OptI64(x) => q.bind(x),
        Val::I32(x) => q.bind(x),
        Val::Text(x) => q.bind(x),
        Val::OptText(x) => q.bind(x),
        Val::Bytes(x) => q.bind(x),
    }
}

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `cols` columns.
/// `($1, $2), ($3, $4)` on PostgreSQL; `(?, ?), (?, ?)` on SQLite, whose parser looks every
/// `$N` up among the names seen so far (a statement of many rows costs the square of its
/// parameters to prepare) while anonymous `?` are numbered as they come.
pub(crate) fn placeholders(rows: usize, cols: usize, backend: Backend) -> String {
    // Written into one string: a batch's statements hold hundreds of parameters each.
    let mut out = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            push_param(&mut out, r * cols + c + 1, backend);
        }
        out.push(')');
    }
    out
}

/// Everything one batch writes, by table.
#[derive(Default)]
pub(crate) struct Batch {
    messages: Vec<Vec<Val>>,
    queue: Vec<Vec<Val>>,
    recipients: Vec<Vec<Val>>,
    events: Vec<Vec<Val>>,
    /// Events with the structured columns of an outcome.
    outcome_events: Vec<Vec<Val>>,
    recipient_updates: Vec<Vec<Val>>,
    queue_done: Vec<i64>,
    queue_retry: Vec<Vec<Val>>,
    /// Opens, clicks and unsubscriptions, written after the rest (they read recipients).
    engagements: Vec<Engagement>,
    /// Statistics of the spooled messages and recorded attempts (their facts are known
    /// here: nothing is read to count them).
    tally: Tally,
}

impl Batch {
    /// Plans a spooled message: its row, one queue row per domain, recipients and `queued`
    /// events (or, for a blocked message, recipients and `blocked` events and no queue row).
    pub(crate) fn spool(&mut self, ids: &IdGen, m: &NewMessage) -> Result<SpoolReceipt> {
        if m.recipients.is_empty() {
            return Err(Error::Invalid(
                "a message needs at least one recipient".into(),
            ));
        }
        let message_id = ids.next(m.now);
        let facts = m.account_id.map(|account_id| Facts {
            account_id,
            campaign: m.meta.campaign.clone(),
            sender: m.mail_from.clone(),
            created_at: m.now,
        });
        self.messages.push(vec![
            Val::I64(message_id),
            Val::OptI64(m.account_id),
            Val::Text(m.mail_from.clone()),
            Val::I64(m.body.len() as i64),
            Val::Bytes(m.body.clone()),
            Val::I64(m.now),
            Val::Text(m.meta.custom_id.clone()),
            Val::Text(m.meta.event_payload.clone()),
            Val::Text(m.meta.campaign.clone()),
            Val::Text(m.meta.subject.clone()),
            Val::I64(i64::from(m.meta.tracking)),
        ]);
        let mut domains: Vec<(String, i64)> = Vec::new();
        let mut receipt = SpoolReceipt {
            message_id,
            recipients: Vec::with_capacity(m.recipients.len()),
        };
        for rcpt in &m.recipients {
            let preblocked = m
                .meta
                .preblocked
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(rcpt));
            let (status, detail, class) = match (&m.meta.blocked, preblocked) {
                (Some(b), _) => (RcptStatus::Blocked, b.reason.as_str(), Some(b.class)),
                (None, Some((_, why))) => (
                    RcptStatus::Blocked,
                    why.as_str(),
                    Some(BounceClass::Preblocked),
                ),
                (None, None) => (RcptStatus::Queued, "", None),
            };
            let domain = domain_of(rcpt);
            let existing = domains
                .iter()
                .find(|(d, _)| *d == domain)
                .map(|(_, id)| *id);
            let queue_id = match existing {
                // A blocked recipient points at a queue row that never exists.
                _ if status != RcptStatus::Queued => ids.next(m.now),
                Some(id) => id,
                None => {
                    let id = ids.next(m.now);
                    self.queue.push(vec![
                        Val::I64(id),
                        Val::I64(message_id),
                        Val::Text(domain.clone()),
                        Val::I32(m.priority),
                        Val::I64(m.now),
                        Val::I64(m.expires_at),
                        Val::I64(m.now),
                    ]);
                    domains.push((domain, id));
                    id
                }
            };
            let rcpt_id = ids.next(m.now);
            let uuid = uuid::Uuid::now_v7().hyphenated().to_string();
            self.recipients.push(vec![
                Val::I64(rcpt_id),
                Val::I64(message_id),
                Val::I64(queue_id),
                Val::Text(rcpt.clone()),
                Val::Text(status.as_str().into()),
                Val::OptText((!detail.is_empty()).then(|| detail.to_string())),
                Val::I64(m.now),
                Val::Text(uuid.clone()),
            ]);
            receipt.recipients.push((rcpt_id, uuid));
            self.event(m.now, message_id, rcpt, status.event(), detail, None, class);
            if let Some(f) = &facts {
                let d = domain_of(rcpt);
                self.tally.add(f, &d, Counter::Processed, m.now, true);
                let c = if status == RcptStatus::Queued {
                    Counter::Queued
                } else {
                    Counter::Blocked
                };
                self.tally.add(f, &d, c, m.now, true);
            }
        }
        Ok(receipt)
    }

    /// Plans a recorded attempt: recipient states, events, and the queue row removed (every
    /// recipient final) or rescheduled. The outcomes cover every pending recipient of the row.
    pub(crate) fn engagement(&mut self, e: &Engagement) {
        self.engagements.push(e.clone());
    }

    pub(crate) fn record(&mut self, r: &AttemptRecord) {
        for o in &r.outcomes {
            self.recipient_updates.push(vec![
                Val::I64(o.recipient_id),
                Val::Text(o.status.as_str().into()),
                Val::Text(o.detail.clone()),
                Val::I64(r.now),
            ]);
            self.event(
                r.now,
                r.message_id,
                &o.address,
                o.status.event(),
                &o.detail,
                Some(o),
                o.class,
            );
            let counted = match o.status {
                RcptStatus::Sent => Some((Counter::Sent, true)),
                RcptStatus::Bounced => Some((Counter::HardBounced, true)),
                RcptStatus::Expired => Some((Counter::SoftBounced, true)),
                RcptStatus::Deferred => Some((Counter::Deferred, r.first_attempt)),
                // Suppressed after it was accepted (marketing mail to an unsubscribed address).
                RcptStatus::Blocked => Some((Counter::Blocked, true)),
                _ => None,
            };
            if let (Some((c, per_message)), Some(f)) = (counted, &r.facts) {
                self.tally
                    .add(f, &domain_of(&o.address), c, r.now, per_message);
            }
        }
        if r.outcomes.iter().any(|o| !o.status.is_final()) {
            self.queue_retry
                .push(vec![Val::I64(r.queue_id), Val::I64(r.next_attempt_at)]);
        } else {
            self.queue_done.push(r.queue_id);
        }
    }

    /// One event row. One that says why (an attempt's outcome, a blocked message's class) has
    /// the structured columns; a plain one (`queued`) does not, and goes in a narrower insert:
    /// statements with fewer parameters are cheaper to prepare on the accept path.
    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        at: i64,
        message_id: i64,
        recipient: &str,
        kind: EventKind,
        detail: &str,
        outcome: Option<&RcptOutcome>,
        class: Option<BounceClass>,
    ) {
        let mut row = vec![
            Val::I64(at),
            Val::I64(message_id),
            Val::OptText(Some(recipient.to_string())),
            Val::Text(kind.as_str().to_string()),
            Val::Text(detail.to_string()),
        ];
        if outcome.is_none() && class.is_none() {
            self.events.push(row);
            return;
        }
        let remote = outcome.and_then(|o| o.remote.as_ref());
        row.extend([
            Val::OptI64(remote.map(|r| i64::from(r.code))),
            Val::OptText(
                outcome
                    .map(|o| o.enhanced.clone())
                    .filter(|e| !e.is_empty()),
            ),
            Val::OptText(remote.map(|r| r.line.clone())),
            Val::OptText(remote.map(|r| r.host.clone())),
            Val::OptText(class.map(|c| c.as_str().to_string())),
        ]);
        self.outcome_events.push(row);
    }

    /// Writes everything planned, in an order that respects foreign keys.
    pub(crate) async fn flush(self, tx: &mut sqlx::AnyConnection, backend: Backend) -> Result<()> {
        insert(
            tx,
            backend,
            "messages (id, account_id, mail_from, size, body, created_at, custom_id, event_payload, campaign, subject, tracking)",
            self.messages,
        )
        .await?;
        insert(
            tx,
            backend,
            "queue (id, message_id, domain, priority, next_attempt_at, expires_at, created_at)",
            self.queue,
        )
        .await?;
        insert(
            tx,
            backend,
            "recipients (id, message_id, queue_id, address, status, last_reply, updated_at, uuid)",
            self.recipients,
        )
        .await?;
        insert(
            tx,
            backend,
            "events (at, message_id, recipient, kind, detail)",
            self.events,
        )
        .await?;
        insert(
            tx,
            backend,
            "events (at, message_id, recipient, kind, detail, reply_code, enhanced_code, reply, remote_host, bounce_class)",
            self.outcome_events,
        )
        .await?;
        chunked(
            tx,
            backend,
            "UPDATE recipients SET status = v.column2, last_reply = v.column3, updated_at = v.column4 FROM (VALUES ",
            // A bounce that came back before its attempt was recorded (a fast DSN) stays.
            ") AS v WHERE recipients.id = v.column1 AND recipients.status <> 'bounced'",
            self.recipient_updates,
        )
        .await?;
        chunked(
            tx,
            backend,
            "UPDATE queue SET attempts = attempts + 1, next_attempt_at = v.column2, lease_owner = NULL, lease_until = NULL FROM (VALUES ",
            ") AS v WHERE queue.id = v.column1",
            self.queue_retry,
        )
        .await?;
        fetch_in(
            tx,
            backend,
            "DELETE FROM queue WHERE id IN ({})",
            &self.queue_done,
        )
        .await?;
        let mut tally = self.tally;
        if !self.engagements.is_empty() {
            crate::engagement::write(tx, backend, &self.engagements, &mut tally).await?;
        }
        if !tally.is_empty() {
            tally.write(tx, backend).await?;
        }
        Ok(())
    }
}

/// `$1, $2, …` (or `?, ?, …`) for an `IN (…)` list of `n` values.
pub(crate) fn param_list(n: usize, backend: Backend) -> String {
    let mut out = String::with_capacity(n * 5);
    for i in 1..=n {
        if i > 1 {
            out.push_str(", ");
        }
        push_param(&mut out, i, backend);
    }
    out
}

/// `INSERT INTO <table_cols> VALUES (…), (…)` in chunks (new queue rows start at attempt 0
/// through the column default).
async fn insert(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    table_cols: &str,
    rows: Vec<Vec<Val>>,
) -> Result<()> {
    let head = format!("INSERT INTO {table_cols} VALUES ");
    chunked(tx, backend, &head, "", rows).await
}

/// The `n`th parameter (from 1) of a statement on `backend`.
fn push_param(out: &mut String, n: usize, backend: Backend) {
    use std::fmt::Write;
    match backend {
        Backend::Sqlite => out.push('?'),
        Backend::Postgres => {
            let _ = write!(out, "${n}");
        }
    }
}

/// Runs `head (row), (row)… tail` once per chunk of rows.
pub(crate) async fn chunked(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    head: &str,
    tail: &str,
    rows: Vec<Vec<Val>>,
) -> Result<()> {
    run_chunked(tx, backend, head, tail, rows, false)
        .await
        .map(|_| ())
}

/// [`chunked`] for a statement that answers rows (`RETURNING`): every chunk's rows.
pub(crate) async fn chunked_rows(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    head: &str,
    tail: &str,
    rows: Vec<Vec<Val>>,
) -> Result<Vec<AnyRow>> {
    run_chunked(tx, backend, head, tail, rows, true).await
}

async fn run_chunked(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    head: &str,
    tail: &str,
    rows: Vec<Vec<Val>>,
    fetch: bool,
) -> Result<Vec<AnyRow>> {
    let mut out = Vec::new();
    let Some(cols) = rows.first().map(Vec::len) else {
        return Ok(out);
    };
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(CHUNK).collect();
        let sql = format!("{head}{}{tail}", placeholders(chunk.len(), cols, backend));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for v in chunk.into_iter().flatten() {
            q = bind(q, v);
        }
        if fetch {
            out.extend(q.fetch_all(&mut *tx).await?);
        } else {
            q.execute(&mut *tx).await?;
        }
    }
    Ok(out)
}

/// Runs `sql` (whose `{}` is an `IN (…)` list) once per chunk of `ids`, sorted and without
/// repeats, and returns every chunk's rows.
pub(crate) async fn fetch_in(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    sql: &str,
    ids: &[i64],
) -> Result<Vec<AnyRow>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(
            sql.replace("{}", &param_list(chunk.len(), backend)),
        ))
        .persistent(false);
        for id in chunk {
            q = q.bind(*id);
        }
        out.extend(q.fetch_all(&mut *tx).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_in_order() {
        use crate::Backend::{Postgres, Sqlite};
        assert_eq!(
            super::placeholders(2, 3, Postgres),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(super::placeholders(2, 2, Sqlite), "(?, ?), (?, ?)");
    }
}
