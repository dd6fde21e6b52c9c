//! The delivery queue and recipients: claiming due rows with a lease, recording attempts,
//! giving rows back, the operator's view and actions (list, show, retry, delete).

use crate::*;

impl Store {
    // ---- queue ----------------------------------------------------------------------------

    /// Claims up to `limit` due queue rows for `owner` until `now + lease_ms`. A row is due when
    /// its next attempt time has come and it has no live lease (a dead node's leases expire).
    pub async fn claim_due(
        &self,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<QueueEntry>> {
        let op = WriteOp::Claim(Claim {
            owner: owner.to_string(),
            now,
            lease_ms,
            limit,
        });
        let result = self.write_batch(std::slice::from_ref(&op)).await?.pop();
        result.ok_or(Error::NotFound)?.into_claimed()
    }

    /// The earliest next-attempt time of any queue row, to sleep until it.
    pub async fn next_due(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(CASE WHEN lease_until IS NULL OR lease_until < next_attempt_at THEN next_attempt_at ELSE lease_until END) AS t FROM queue")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("t")?)
    }

    /// Records one attempt: each recipient's new state and event; then the queue row is either
    /// rescheduled at `next_attempt_at` (some recipient deferred) or removed (all final).
    pub async fn record_attempt(
        &self,
        entry: &QueueEntry,
        outcomes: &[RcptOutcome],
        next_attempt_at: i64,
        now: i64,
    ) -> Result<()> {
        let op = WriteOp::Record(AttemptRecord {
            queue_id: entry.id,
            message_id: entry.message_id,
            outcomes: outcomes.to_vec(),
            next_attempt_at,
            now,
            first_attempt: entry.attempts == 0,
            facts: entry.facts(),
            dsn: None,
        });
        self.write_batch(std::slice::from_ref(&op))
            .await
            .map(|_| ())
    }

    /// Gives a leased row back without an attempt, due again at `at`: the scheduler holds no
    /// more rows for one destination than it can soon deliver.
    pub async fn postpone(&self, queue_id: i64, owner: &str, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE queue SET lease_owner = NULL, lease_until = NULL, next_attempt_at = $1 WHERE id = $2 AND lease_owner = $3",
        )
        .bind(at)
        .bind(queue_id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Frees every lease held by `owner`: a restarted node takes back its own rows at once
    /// instead of waiting for the leases of its previous life to expire.
    pub async fn release_leases_of(&self, owner: &str) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// Queue rows for listing: (message id, domain, attempts, next attempt, pending recipients).
    pub async fn list_queue(&self, limit: i64) -> Result<Vec<(i64, String, i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT q.message_id, q.domain, q.attempts, q.next_attempt_at,
                    (SELECT COUNT(*) FROM recipients r WHERE r.queue_id = q.id AND r.status IN ('queued','deferred')) AS pending
             FROM queue q ORDER BY q.next_attempt_at, q.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("message_id")?,
                    r.try_get("domain")?,
                    r.try_get("attempts")?,
                    r.try_get("next_attempt_at")?,
                    r.try_get("pending")?,
                ))
            })
            .collect()
    }

    /// How many recipients are in each state, e.g. `[("sent", 998), ("deferred", 2)]`.
    pub async fn recipient_status_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM recipients GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    pub async fn queue_len(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM queue")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    pub async fn message(&self, message_id: i64) -> Result<MessageInfo> {
        let row = sqlx::query(
            "SELECT id, account_id, mail_from, size, created_at FROM messages WHERE id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        let queue = sqlx::query(
            "SELECT domain, attempts, next_attempt_at FROM queue WHERE message_id = $1 ORDER BY id",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("domain")?,
                r.try_get("attempts")?,
                r.try_get("next_attempt_at")?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(MessageInfo {
            id: row.try_get("id")?,
            account_id: row.try_get("account_id")?,
            mail_from: row.try_get("mail_from")?,
            size: row.try_get("size")?,
            created_at: row.try_get("created_at")?,
            recipients: self.recipients_of_message(message_id).await?,
            queue,
            events: self.events(message_id).await?,
        })
    }

    pub async fn events(&self, message_id: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query("SELECT at, message_id, recipient, kind, detail FROM events WHERE message_id = $1 ORDER BY id")
            .bind(message_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    at: r.try_get("at")?,
                    message_id: r.try_get("message_id")?,
                    recipient: r.try_get("recipient")?,
                    kind: event_kind(&r.try_get::<String, _>("kind")?)?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Makes every queue row of a message due now.
    pub async fn retry_now(&self, message_id: i64, now: i64) -> Result<u64> {
        let done = sqlx::query(
            // Leases stay: a live one means an attempt is under way right now (clearing it would
            // let a second attempt start beside it); an expired one is claimable anyway.
            "UPDATE queue SET next_attempt_at = $1 WHERE message_id = $2",
        )
        .bind(now)
        .bind(message_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if done == 0 {
            return Err(Error::NotFound);
        }
        Ok(done)
    }

    /// Removes a message from the queue: pending recipients become `deleted`, with an event.
    pub async fn delete_from_queue(&self, message_id: i64, now: i64) -> Result<u64> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let pending = sqlx::query(
            "SELECT address FROM recipients WHERE message_id = $1 AND status IN ('queued','deferred')",
        )
        .bind(message_id)
        .fetch_all(&mut *tx)
        .await?;
        let removed = sqlx::query("DELETE FROM queue WHERE message_id = $1")
            .bind(message_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Err(Error::NotFound);
        }
        sqlx::query(
            "UPDATE recipients SET status = 'deleted', last_reply = 'deleted by operator', updated_at = $1 WHERE message_id = $2 AND status IN ('queued','deferred')",
        )
        .bind(now)
        .bind(message_id)
        .execute(&mut *tx)
        .await?;
        for row in &pending {
            let address: String = row.try_get("address")?;
            insert_event(
                &mut tx,
                now,
                message_id,
                Some(&address),
                "deleted",
                "deleted by operator",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(pending.len() as u64)
    }

    async fn recipients_of_message(&self, message_id: i64) -> Result<Vec<Recipient>> {
        let rows = sqlx::query(
            "SELECT id, address, status, last_reply, updated_at FROM recipients WHERE message_id = $1 ORDER BY id",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(recipient_from_row).collect()
    }
}

fn recipient_from_row(r: &AnyRow) -> Result<Recipient> {
    Ok(Recipient {
        id: r.try_get("id")?,
        address: r.try_get("address")?,
        status: r.try_get::<String, _>("status")?.parse()?,
        last_reply: r.try_get("last_reply")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) async fn claim_in(
    tx: &mut sqlx::AnyConnection,
    c: &Claim,
    backend: Backend,
) -> Result<Vec<QueueEntry>> {
    // On PostgreSQL, rows another node is claiming right now are skipped, not waited for.
    let sql = match backend {
        Backend::Sqlite => {
            "UPDATE queue SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM queue
                          WHERE next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
                          ORDER BY priority DESC, CASE WHEN priority = 1 THEN -next_attempt_at ELSE next_attempt_at END LIMIT $4)
             RETURNING id"
        }
        Backend::Postgres => {
            "UPDATE queue SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM queue
                          WHERE next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
                          ORDER BY priority DESC, CASE WHEN priority = 1 THEN -next_attempt_at ELSE next_attempt_at END LIMIT $4
                          FOR UPDATE SKIP LOCKED)
             RETURNING id"
        }
    };
    let rows = sqlx::query(sql)
        .bind(&c.owner)
        .bind(c.now + c.lease_ms)
        .bind(c.now)
        .bind(c.limit)
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // The ids are integers read back from the database: safe to inline in the IN lists.
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>("id").map(|id| id.to_string()))
        .collect::<std::result::Result<_, _>>()?;
    let ids = ids.join(",");
    let queue_rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT q.id AS id, q.message_id AS message_id, q.domain AS domain, q.attempts AS attempts,
                q.next_attempt_at AS next_attempt_at, q.expires_at AS expires_at, q.created_at AS created_at,
                m.account_id AS account_id, m.mail_from AS mail_from, m.body AS body,
                m.tracking AS tracking, m.campaign AS campaign
         FROM queue q JOIN messages m ON m.id = q.message_id WHERE q.id IN ({ids}) ORDER BY q.id"
    )))
    .fetch_all(&mut *tx)
    .await?;
    let rcpt_rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, queue_id, address, status, last_reply, updated_at FROM recipients
         WHERE queue_id IN ({ids}) AND status IN ('queued','deferred') ORDER BY id"
    )))
    .fetch_all(&mut *tx)
    .await?;
    let mut by_queue: std::collections::HashMap<i64, Vec<Recipient>> =
        std::collections::HashMap::new();
    for r in &rcpt_rows {
        by_queue
            .entry(r.try_get("queue_id")?)
            .or_default()
            .push(recipient_from_row(r)?);
    }
    queue_rows
        .iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            Ok(QueueEntry {
                id,
                message_id: row.try_get("message_id")?,
                account_id: row.try_get("account_id")?,
                domain: row.try_get("domain")?,
                mail_from: row.try_get("mail_from")?,
                attempts: row.try_get("attempts")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                recipients: by_queue.remove(&id).unwrap_or_default(),
                body: row.try_get("body")?,
                tracking: row.try_get::<i64, _>("tracking")? as u8,
                campaign: row.try_get("campaign")?,
            })
        })
        .collect()
}

async fn insert_event(
    tx: &mut sqlx::AnyConnection,
    at: i64,
    message_id: i64,
    recipient: Option<&str>,
    kind: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (at, message_id, recipient, kind, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(at)
    .bind(message_id)
    .bind(recipient)
    .bind(kind)
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
