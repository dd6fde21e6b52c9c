//! Mail received at the bounce domain: every message is recorded with what Facteur made of it
//! (a recipient bounced, a complaint, nothing to do and why). One that changed nothing keeps
//! its raw bytes for an operator to read (`facteur bounce list|show`); nothing is dropped
//! silently. A bounce or a complaint about a recipient is written with its event, in one
//! transaction.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, EventKind, RcptOutcome, RcptStatus, Result, Store};

/// A recipient found from a VERP return path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRef {
    pub id: i64,
    pub message_id: i64,
    pub account_id: Option<i64>,
    pub address: String,
    pub status: RcptStatus,
    /// It unsubscribed with its message's link.
    pub unsubscribed: bool,
}

/// What a report did to its recipient: a `bounced` event that moves it to `bounced`, or a
/// `spam` event (its state stays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateEvent {
    pub kind: EventKind,
    /// The outcome's columns (code, reply, host: for a complaint the feedback program; class).
    pub outcome: RcptOutcome,
}

/// One message received at the bounce domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundReport {
    pub id: i64,
    pub received_at: i64,
    /// The client's address.
    pub peer: String,
    pub mail_from: String,
    /// The envelope recipients, comma separated.
    pub rcpt_to: String,
    /// `bounce`, `delayed`, `complaint`, `auto-reply`, `not-a-bounce`.
    pub kind: String,
    /// What Facteur did with it, for people.
    pub outcome: String,
    pub account_id: Option<i64>,
    pub message_id: Option<i64>,
    pub recipient_id: Option<i64>,
    /// The message as received, kept when it changed nothing.
    pub raw: Option<Vec<u8>>,
}

const COLS: &str = "id, received_at, peer, mail_from, rcpt_to, kind, outcome, account_id, message_id, recipient_id, raw";

fn report(r: &AnyRow) -> Result<InboundReport> {
    Ok(InboundReport {
        id: r.try_get("id")?,
        received_at: r.try_get("received_at")?,
        peer: r.try_get("peer")?,
        mail_from: r.try_get("mail_from")?,
        rcpt_to: r.try_get("rcpt_to")?,
        kind: r.try_get("kind")?,
        outcome: r.try_get("outcome")?,
        account_id: r.try_get("account_id")?,
        message_id: r.try_get("message_id")?,
        recipient_id: r.try_get("recipient_id")?,
        raw: r.try_get("raw")?,
    })
}

impl Store {
    /// The recipient with this id, with its message's account.
    pub async fn recipient_ref(&self, id: i64) -> Result<Option<RecipientRef>> {
        let row = sqlx::query(
            "SELECT r.id AS id, r.message_id AS message_id, m.account_id AS account_id,
                    r.address AS address, r.status AS status, r.unsub_at AS unsub_at
             FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RecipientRef {
                id: r.try_get("id")?,
                message_id: r.try_get("message_id")?,
                account_id: r.try_get("account_id")?,
                address: r.try_get("address")?,
                status: r.try_get::<String, _>("status")?.parse()?,
                unsubscribed: r.try_get::<Option<i64>, _>("unsub_at")?.is_some(),
            })
        })
        .transpose()
    }

    /// Records a received report and, if it says something about one of our recipients, its
    /// event (and the recipient's new state), in one transaction. Returns the report's id and
    /// whether the event was recorded: a bounce for a recipient already `bounced` (the same
    /// DSN sent twice) records none.
    pub async fn record_inbound(
        &self,
        report: &InboundReport,
        event: Option<(&RecipientRef, &LateEvent)>,
    ) -> Result<(i64, bool)> {
        let id = self.ids.next(report.received_at);
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO inbound_reports ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )))
        .bind(id)
        .bind(report.received_at)
        .bind(&report.peer)
        .bind(&report.mail_from)
        .bind(&report.rcpt_to)
        .bind(&report.kind)
        .bind(&report.outcome)
        .bind(report.account_id)
        .bind(report.message_id)
        .bind(report.recipient_id)
        .bind(report.raw.clone())
        .execute(&mut *tx)
        .await?;
        let mut recorded = false;
        if let Some((rcpt, e)) = event {
            let o = &e.outcome;
            let applies = if e.kind == EventKind::Bounced {
                sqlx::query(
                    "UPDATE recipients SET status = $1, last_reply = $2, updated_at = $3 WHERE id = $4 AND status <> $1",
                )
                .bind(RcptStatus::Bounced.as_str())
                .bind(&o.detail)
                .bind(report.received_at)
                .bind(rcpt.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            } else {
                true
            };
            recorded = applies;
        }
        if let Some((rcpt, e)) = event.filter(|_| recorded) {
            let o = &e.outcome;
            let remote = o.remote.as_ref();
            sqlx::query(
                "INSERT INTO events (at, message_id, recipient, kind, detail, reply_code, enhanced_code, reply, remote_host, bounce_class)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(report.received_at)
            .bind(rcpt.message_id)
            .bind(&rcpt.address)
            .bind(e.kind.as_str())
            .bind(&o.detail)
            .bind(remote.map(|r| i64::from(r.code)).filter(|c| *c > 0))
            .bind(Some(o.enhanced.clone()).filter(|s| !s.is_empty()))
            .bind(remote.map(|r| r.line.clone()).filter(|s| !s.is_empty()))
            .bind(remote.map(|r| r.host.clone()).filter(|s| !s.is_empty()))
            .bind(o.class.map(|c| c.as_str()))
            .execute(&mut *tx)
            .await?;
            let facts = crate::stats::facts(&mut tx, self.backend, &[rcpt.message_id]).await?;
            if let Some(f) = facts.get(&rcpt.message_id) {
                use crate::stats::Counter;
                let counter = match (e.kind, o.class) {
                    (EventKind::Spam, _) => Counter::Spam,
                    (_, Some(c)) if c.severity() == facteur_message::outcome::Severity::Soft => {
                        Counter::SoftBounced
                    }
                    _ => Counter::HardBounced,
                };
                let mut tally = crate::stats::Tally::default();
                tally.add(
                    f,
                    &crate::domain_of(&rcpt.address),
                    counter,
                    report.received_at,
                    true,
                );
                tally.write(&mut tx, self.backend).await?;
            }
        }
        tx.commit().await?;
        Ok((id, recorded))
    }

    /// Removes the reports received before `before` (their kept messages with them); returns
    /// how many.
    pub async fn purge_inbound(&self, before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM inbound_reports WHERE received_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// The newest reports first; `unhandled`: only those that changed nothing.
    pub async fn inbound_reports(
        &self,
        unhandled: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<InboundReport>> {
        let filter = if unhandled {
            "WHERE raw IS NOT NULL"
        } else {
            ""
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM inbound_reports {filter} ORDER BY received_at DESC, id DESC LIMIT $1 OFFSET $2"
        )))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(report)
        .collect()
    }

    pub async fn inbound_report(&self, id: i64) -> Result<InboundReport> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM inbound_reports WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(report)
        .transpose()?
        .ok_or(Error::NotFound)
    }
}
