//! The block editor's storage: each visual template's document with the ordered log of the
//! operations that made it, section leases, who is in the editor, comments, publish requests,
//! in-app notifications and uploaded images. The rules (what an operation may do, who may take
//! a lease) are facteur-collab's; this module stores what they accepted, atomically.

use sqlx::Row;

use crate::templates::TemplateContent;
use crate::{Backend, Error, Result, Store};

/// The channel other nodes hear editor changes on (PostgreSQL NOTIFY). Payloads are
/// `op:TEMPLATE:SEQ`, `leases:TEMPLATE`, `presence:TEMPLATE`, `comments:TEMPLATE`,
/// `requests:TEMPLATE`: ids only; listeners read the rest from the tables.
pub const COLLAB_CHANNEL: &str = "facteur_collab";

/// One operation of a template's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    pub seq: i64,
    pub user_id: i64,
    /// The sending client's own id for it (its acknowledgement).
    pub cid: String,
    /// The operation, as JSON.
    pub op: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    pub section: String,
    pub user_id: i64,
    pub conn: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    pub conn: String,
    pub user_id: i64,
    pub section: String,
    pub block: String,
    pub seen_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: i64,
    pub template_id: i64,
    pub mode: String,
    pub block: String,
    pub parent_id: Option<i64>,
    pub author_id: i64,
    pub body: String,
    /// The ids of the people it mentions.
    pub mentions: Vec<i64>,
    pub resolved_at: Option<i64>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub id: i64,
    pub template_id: i64,
    pub requester_id: i64,
    pub message: String,
    pub status: String,
    /// The draft as it was submitted.
    pub content: TemplateContent,
    pub decided_by: Option<i64>,
    pub reason: String,
    /// The version approval published.
    pub version: Option<i64>,
    pub decided_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub account_id: i64,
    pub text: String,
    pub link: String,
    pub created_at: i64,
    pub read: bool,
}

/// What [`Store::apply_op`] asks of the caller: given the document and the live leases, the
/// new document and the operation as applied (both JSON), or a refusal.
pub type Applied<E> = std::result::Result<(String, String), E>;

fn comment_row(r: &sqlx::any::AnyRow) -> Result<CommentRecord> {
    let mentions: String = r.try_get("mentions")?;
    Ok(CommentRecord {
        id: r.try_get("id")?,
        template_id: r.try_get("template_id")?,
        mode: r.try_get("mode")?,
        block: r.try_get("block_id")?,
        parent_id: r.try_get("parent_id")?,
        author_id: r.try_get("author_id")?,
        body: r.try_get("body")?,
        mentions: serde_json::from_str(&mentions).unwrap_or_default(),
        resolved_at: r.try_get("resolved_at")?,
        created_at: r.try_get("created_at")?,
        edited_at: r.try_get("edited_at")?,
    })
}

fn request_row(r: &sqlx::any::AnyRow) -> Result<RequestRecord> {
    let headers: String = r.try_get("headers")?;
    Ok(RequestRecord {
        id: r.try_get("id")?,
        template_id: r.try_get("template_id")?,
        requester_id: r.try_get("requester_id")?,
        message: r.try_get("message")?,
        status: r.try_get("status")?,
        content: TemplateContent {
            html: r.try_get("html")?,
            text: r.try_get("text")?,
            mjml: r.try_get("mjml")?,
            headers: serde_json::from_str(&headers).unwrap_or_default(),
        },
        decided_by: r.try_get("decided_by")?,
        reason: r.try_get("reason")?,
        version: r.try_get("version")?,
        decided_at: r.try_get("decided_at")?,
        created_at: r.try_get("created_at")?,
    })
}

const REQUEST_COLUMNS: &str = "id, template_id, requester_id, message, status, html, text, mjml, headers, decided_by, reason, version, decided_at, created_at";
const COMMENT_COLUMNS: &str = "id, template_id, mode, block_id, parent_id, author_id, body, mentions, resolved_at, created_at, edited_at";

impl Store {
    /// Tells other nodes (PostgreSQL) that something of the editor changed.
    pub async fn collab_notify(&self, payload: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(COLLAB_CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    // ---- Documents and the op log ----

    /// The template's block document (JSON) and its last sequence number; `None` when the
    /// template is edited as code.
    pub async fn blocks(&self, template_id: i64) -> Result<Option<(String, i64)>> {
        let row = sqlx::query("SELECT doc, seq FROM template_docs WHERE template_id = $1")
            .bind(template_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("doc")?, r.try_get("seq")?)))
            .transpose()
    }

    /// Starts (or starts again) the visual editing of a template with `doc`: the op log
    /// begins anew after the current sequence number, so connected editors reload.
    pub async fn start_blocks(&self, template_id: i64, doc: &str, now: i64) -> Result<i64> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM template_docs WHERE template_id = $1")
                .bind(template_id)
                .fetch_optional(&mut *tx)
                .await?;
        let seq = seq.unwrap_or(0) + 1;
        sqlx::query("DELETE FROM template_docs WHERE template_id = $1")
            .bind(template_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM template_ops WHERE template_id = $1")
            .bind(template_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO template_docs (template_id, doc, seq, updated_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(template_id)
        .bind(doc)
        .bind(seq)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Ends the visual editing of a template (back to the code editor): its document, log,
    /// leases go; its comments stay.
    pub async fn drop_blocks(&self, template_id: i64) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        for table in ["template_docs", "template_ops", "section_leases"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE template_id = $1"
            )))
            .bind(template_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies one operation in one transaction: reads the document (locked against other
    /// writers) and the live leases, lets `decide` check and apply the operation, then writes
    /// the new document, appends the operation to the log with the next sequence number and
    /// notifies other nodes with the commit. Returns that sequence number, or `decide`'s
    /// refusal (nothing written).
    pub async fn apply_op<E>(
        &self,
        template_id: i64,
        user_id: i64,
        cid: &str,
        now: i64,
        decide: impl FnOnce(&str, &[LeaseRecord]) -> Applied<E>,
    ) -> Result<std::result::Result<i64, E>> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT doc, seq FROM template_docs WHERE template_id = $1{lock}"
        )))
        .bind(template_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?;
        let doc: String = row.try_get("doc")?;
        let seq: i64 = row.try_get::<i64, _>("seq")? + 1;
        let leases = leases_in(&mut tx, template_id, now).await?;
        let (doc, op) = match decide(&doc, &leases) {
            Ok(x) => x,
            Err(refusal) => {
                tx.rollback().await?;
                return Ok(Err(refusal));
            }
        };
        sqlx::query(
            "UPDATE template_docs SET doc = $1, seq = $2, updated_at = $3 WHERE template_id = $4",
        )
        .bind(&doc)
        .bind(seq)
        .bind(now)
        .bind(template_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO template_ops (template_id, seq, user_id, cid, op, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(template_id)
        .bind(seq)
        .bind(user_id)
        .bind(cid)
        .bind(&op)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(COLLAB_CHANNEL)
                .bind(format!("op:{template_id}:{seq}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Ok(seq))
    }

    /// The operations after `after`, oldest first, at most `limit`.
    pub async fn ops_since(
        &self,
        template_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<OpRecord>> {
        let rows = sqlx::query(
            "SELECT seq, user_id, cid, op, at FROM template_ops WHERE template_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(template_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OpRecord {
                    seq: r.try_get("seq")?,
                    user_id: r.try_get("user_id")?,
                    cid: r.try_get("cid")?,
                    op: r.try_get("op")?,
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    /// How many operations the log holds and their size in bytes.
    pub async fn op_log_size(&self, template_id: i64) -> Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(op)), 0) AS bytes FROM template_ops WHERE template_id = $1",
        )
        .bind(template_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((r.try_get("n")?, r.try_get("bytes")?))
    }

    // ---- Leases ----

    /// Takes (or renews) the lease of `section` for `user` on `conn` until `expires_at`, and
    /// releases the other sections that connection held: one section at a time. `Ok(Err(id))`
    /// names the person who holds it.
    pub async fn take_lease(
        &self,
        template_id: i64,
        section: &str,
        user_id: i64,
        conn: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<std::result::Result<(), i64>> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let taken = sqlx::query(
            "INSERT INTO section_leases (template_id, section_id, user_id, conn, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (template_id, section_id) DO UPDATE SET user_id = excluded.user_id, conn = excluded.conn, expires_at = excluded.expires_at \
             WHERE section_leases.user_id = excluded.user_id OR section_leases.expires_at <= $6",
        )
        .bind(template_id)
        .bind(section)
        .bind(user_id)
        .bind(conn)
        .bind(expires_at)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 {
            let holder: i64 = sqlx::query_scalar(
                "SELECT user_id FROM section_leases WHERE template_id = $1 AND section_id = $2",
            )
            .bind(template_id)
            .bind(section)
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            return Ok(Err(holder));
        }
        sqlx::query(
            "DELETE FROM section_leases WHERE template_id = $1 AND conn = $2 AND section_id <> $3",
        )
        .bind(template_id)
        .bind(conn)
        .bind(section)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Releases a section `conn` holds; whether it held it.
    pub async fn release_lease(&self, template_id: i64, section: &str, conn: &str) -> Result<bool> {
        let n = sqlx::query(
            "DELETE FROM section_leases WHERE template_id = $1 AND section_id = $2 AND conn = $3",
        )
        .bind(template_id)
        .bind(section)
        .bind(conn)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Renews the leases and presence of a connection (its heartbeat).
    pub async fn renew_conn(&self, conn: &str, now: i64, expires_at: i64) -> Result<()> {
        sqlx::query("UPDATE section_leases SET expires_at = $1 WHERE conn = $2")
            .bind(expires_at)
            .bind(conn)
            .execute(&self.pool)
            .await?;
        sqlx::query("UPDATE editor_presence SET seen_at = $1 WHERE conn = $2")
            .bind(now)
            .bind(conn)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A connection closed: its leases and presence go.
    pub async fn end_conn(&self, conn: &str) -> Result<()> {
        sqlx::query("DELETE FROM section_leases WHERE conn = $1")
            .bind(conn)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM editor_presence WHERE conn = $1")
            .bind(conn)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The template's live leases.
    pub async fn leases(&self, template_id: i64, now: i64) -> Result<Vec<LeaseRecord>> {
        let mut conn = self.pool.acquire().await?;
        leases_in(&mut conn, template_id, now).await
    }

    // ---- Presence ----

    /// Records where a connection's person is in the editor.
    pub async fn touch_presence(
        &self,
        conn: &str,
        template_id: i64,
        user_id: i64,
        section: &str,
        block: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO editor_presence (conn, template_id, user_id, section_id, block_id, seen_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (conn) DO UPDATE SET section_id = excluded.section_id, block_id = excluded.block_id, seen_at = excluded.seen_at",
        )
        .bind(conn)
        .bind(template_id)
        .bind(user_id)
        .bind(section)
        .bind(block)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Who is in the template's editor: connections seen since `since`.
    pub async fn presence(&self, template_id: i64, since: i64) -> Result<Vec<PresenceRecord>> {
        let rows = sqlx::query(
            "SELECT conn, user_id, section_id, block_id, seen_at FROM editor_presence WHERE template_id = $1 AND seen_at >= $2 ORDER BY conn",
        )
        .bind(template_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PresenceRecord {
                    conn: r.try_get("conn")?,
                    user_id: r.try_get("user_id")?,
                    section: r.try_get("section_id")?,
                    block: r.try_get("block_id")?,
                    seen_at: r.try_get("seen_at")?,
                })
            })
            .collect()
    }

    /// Forgets presence and leases nobody renewed before `before` (connections of a node that
    /// died).
    pub async fn expire_presence(&self, before: i64) -> Result<()> {
        sqlx::query("DELETE FROM editor_presence WHERE seen_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM section_leases WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- Comments ----

    #[allow(clippy::too_many_arguments)]
    pub async fn add_comment(
        &self,
        template_id: i64,
        mode: &str,
        block: &str,
        parent_id: Option<i64>,
        author_id: i64,
        body: &str,
        mentions: &[i64],
        now: i64,
    ) -> Result<CommentRecord> {
        if let Some(p) = parent_id {
            let parent = self.comment(p).await?;
            if parent.template_id != template_id {
                return Err(Error::Invalid(
                    "the parent comment is on another template".into(),
                ));
            }
            if parent.parent_id.is_some() {
                return Err(Error::Invalid("reply to the thread's first comment".into()));
            }
        }
        let id = self.ids.next(now);
        sqlx::query(
            "INSERT INTO template_comments (id, template_id, mode, block_id, parent_id, author_id, body, mentions, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(template_id)
        .bind(mode)
        .bind(block)
        .bind(parent_id)
        .bind(author_id)
        .bind(body)
        .bind(serde_json::to_string(mentions).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.comment(id).await
    }

    pub async fn comment(&self, id: i64) -> Result<CommentRecord> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COMMENT_COLUMNS} FROM template_comments WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        comment_row(&r)
    }

    /// A template's comments, oldest first.
    pub async fn comments(&self, template_id: i64) -> Result<Vec<CommentRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COMMENT_COLUMNS} FROM template_comments WHERE template_id = $1 ORDER BY created_at, id"
        )))
        .bind(template_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(comment_row).collect()
    }

    pub async fn edit_comment(
        &self,
        id: i64,
        body: &str,
        mentions: &[i64],
        now: i64,
    ) -> Result<()> {
        let n = sqlx::query(
            "UPDATE template_comments SET body = $1, mentions = $2, edited_at = $3 WHERE id = $4",
        )
        .bind(body)
        .bind(serde_json::to_string(mentions).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Deletes a comment and, for a thread's first comment, its replies.
    pub async fn delete_comment(&self, id: i64) -> Result<()> {
        let n = sqlx::query("DELETE FROM template_comments WHERE id = $1 OR parent_id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Resolves (`Some(now)`) or reopens (`None`) the thread `id` starts.
    pub async fn resolve_thread(&self, id: i64, by: i64, at: Option<i64>) -> Result<()> {
        let n = sqlx::query(
            "UPDATE template_comments SET resolved_at = $1, resolved_by = $2 WHERE id = $3 AND parent_id IS NULL",
        )
        .bind(at)
        .bind(at.map(|_| by))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::Invalid(
                "only a thread's first comment is resolved or reopened".into(),
            ));
        }
        Ok(())
    }

    // ---- Publish requests ----

    /// Records a request to publish `content` (the draft as submitted); the template's older
    /// pending requests are withdrawn: the newest one is what is asked.
    pub async fn create_request(
        &self,
        template_id: i64,
        requester_id: i64,
        message: &str,
        content: &TemplateContent,
        now: i64,
    ) -> Result<RequestRecord> {
        let id = self.ids.next(now);
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        sqlx::query(
            "UPDATE publish_requests SET status = 'withdrawn', reason = 'replaced by a newer request', decided_at = $1 \
             WHERE template_id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(template_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO publish_requests (id, template_id, requester_id, message, status, html, text, mjml, headers, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(template_id)
        .bind(requester_id)
        .bind(message)
        .bind(&content.html)
        .bind(&content.text)
        .bind(&content.mjml)
        .bind(content.headers.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.request(id).await
    }

    pub async fn request(&self, id: i64) -> Result<RequestRecord> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM publish_requests WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        request_row(&r)
    }

    /// A template's requests, newest first.
    pub async fn requests(&self, template_id: i64) -> Result<Vec<RequestRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM publish_requests WHERE template_id = $1 ORDER BY created_at DESC, id DESC"
        )))
        .bind(template_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(request_row).collect()
    }

    /// Records a pending request's decision; `Conflict` when it was no longer pending (two
    /// approvers at once: one wins).
    pub async fn decide_request(
        &self,
        id: i64,
        status: &str,
        decided_by: i64,
        reason: &str,
        version: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let n = sqlx::query(
            "UPDATE publish_requests SET status = $1, decided_by = $2, reason = $3, version = $4, decided_at = $5 \
             WHERE id = $6 AND status = 'pending'",
        )
        .bind(status)
        .bind(decided_by)
        .bind(reason)
        .bind(version)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::Conflict("this request was already decided".into()));
        }
        Ok(())
    }

    /// The version an approved request was published as.
    pub async fn set_request_version(&self, id: i64, version: i64) -> Result<()> {
        sqlx::query("UPDATE publish_requests SET version = $1 WHERE id = $2")
            .bind(version)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- Notifications ----

    pub async fn notify_person(
        &self,
        user_id: i64,
        account_id: i64,
        text: &str,
        link: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO notifications (id, user_id, account_id, text, link, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.ids.next(now))
        .bind(user_id)
        .bind(account_id)
        .bind(text)
        .bind(link)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A person's newest notifications.
    pub async fn notifications(&self, user_id: i64, limit: i64) -> Result<Vec<Notification>> {
        let rows = sqlx::query(
            "SELECT id, account_id, text, link, created_at, read_at FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Notification {
                    id: r.try_get("id")?,
                    account_id: r.try_get("account_id")?,
                    text: r.try_get("text")?,
                    link: r.try_get("link")?,
                    created_at: r.try_get("created_at")?,
                    read: r.try_get::<Option<i64>, _>("read_at")?.is_some(),
                })
            })
            .collect()
    }

    pub async fn unread_notifications(&self, user_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn read_notifications(&self, user_id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- Images ----

    pub async fn save_image(
        &self,
        account_id: i64,
        token: &str,
        content_type: &str,
        body: &[u8],
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO images (id, account_id, token, content_type, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(self.ids.next(now))
        .bind(account_id)
        .bind(token)
        .bind(content_type)
        .bind(body)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An uploaded image: its type and bytes.
    pub async fn image(&self, token: &str) -> Result<(String, Vec<u8>)> {
        let r = sqlx::query("SELECT content_type, body FROM images WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound)?;
        Ok((r.try_get("content_type")?, r.try_get("body")?))
    }
}

async fn leases_in(
    conn: &mut sqlx::AnyConnection,
    template_id: i64,
    now: i64,
) -> Result<Vec<LeaseRecord>> {
    let rows = sqlx::query(
        "SELECT section_id, user_id, conn, expires_at FROM section_leases WHERE template_id = $1 AND expires_at > $2",
    )
    .bind(template_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LeaseRecord {
                section: r.try_get("section_id")?,
                user_id: r.try_get("user_id")?,
                conn: r.try_get("conn")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}
