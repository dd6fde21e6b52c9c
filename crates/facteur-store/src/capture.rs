//! Captured messages (capture mode, `capture = true`): what would have gone on the wire, kept
//! once per recipient instead of being sent, for a developer to read (as Mailpit does). Reads
//! and deletions are scoped to an account: another account's capture is [`Error::NotFound`].
//! The scope `None` is the operator's view from the command line: every account's, and the
//! captures of mail that belongs to no account (Facteur's own reports).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Result, Store};

/// One recipient's copy of a message, to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCapture<'a> {
    pub account_id: Option<i64>,
    /// The spooled message.
    pub message_id: i64,
    /// The recipient (Mailjet's `MessageID`).
    pub recipient_id: i64,
    pub recipient: String,
    /// The envelope sender; empty for the null sender.
    pub mail_from: String,
    /// The decoded `Subject`.
    pub subject: String,
    /// The message as it would have been sent (tracked, signed).
    pub raw: &'a [u8],
    pub captured_at: i64,
}

/// A kept message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub id: i64,
    pub account_id: Option<i64>,
    pub message_id: i64,
    pub recipient_id: i64,
    pub recipient: String,
    pub mail_from: String,
    pub subject: String,
    pub size: i64,
    pub captured_at: i64,
    /// The bytes as captured: read with one capture ([`Store::capture`]), `None` in lists.
    pub raw: Option<Vec<u8>>,
}

/// Which captures a list shows.
#[derive(Debug, Clone, Default)]
pub struct CaptureFilter {
    /// Kept when the recipient or the subject contains it (case-insensitive).
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

const COLS: &str =
    "id, account_id, message_id, recipient_id, recipient, mail_from, subject, size, captured_at";

/// `$1` is the account scope: NULL reads every account's.
const SCOPE: &str = "($1 IS NULL OR account_id = $1)";

fn captured(r: &AnyRow, with_raw: bool) -> Result<Captured> {
    Ok(Captured {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        message_id: r.try_get("message_id")?,
        recipient_id: r.try_get("recipient_id")?,
        recipient: r.try_get("recipient")?,
        mail_from: r.try_get("mail_from")?,
        subject: r.try_get("subject")?,
        size: r.try_get("size")?,
        captured_at: r.try_get("captured_at")?,
        raw: if with_raw {
            Some(r.try_get("raw")?)
        } else {
            None
        },
    })
}

impl Store {
    /// Keeps captured copies, all in one transaction; returns their ids in order. A recipient
    /// keeps one copy: capturing it again (an attempt retried after a crash between the
    /// capture and the attempt's record) keeps the first, whose id is returned.
    pub async fn add_captures(&self, captures: &[NewCapture<'_>]) -> Result<Vec<i64>> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let mut ids = Vec::with_capacity(captures.len());
        for c in captures {
            let id = self.ids.next(c.captured_at);
            let added = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO captured ({COLS}, raw) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (recipient_id) DO NOTHING"
            )))
            .bind(id)
            .bind(c.account_id)
            .bind(c.message_id)
            .bind(c.recipient_id)
            .bind(&c.recipient)
            .bind(&c.mail_from)
            .bind(&c.subject)
            .bind(c.raw.len() as i64)
            .bind(c.captured_at)
            .bind(c.raw)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if added == 1 {
                ids.push(id);
            } else {
                let kept = sqlx::query("SELECT id FROM captured WHERE recipient_id = $1")
                    .bind(c.recipient_id)
                    .fetch_one(&mut *tx)
                    .await?;
                ids.push(kept.try_get("id")?);
            }
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The captures in scope, newest first (without their bytes), and how many match in all.
    pub async fn captures(
        &self,
        account: Option<i64>,
        filter: &CaptureFilter,
    ) -> Result<(Vec<Captured>, i64)> {
        let search = filter.search.clone().unwrap_or_default();
        let pattern = crate::like_contains(&search);
        let cond = format!(
            "{SCOPE} AND ($2 = '' OR LOWER(recipient) LIKE $3 ESCAPE '\\' OR LOWER(subject) LIKE $3 ESCAPE '\\')"
        );
        let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM captured WHERE {cond}"
        )))
        .bind(account)
        .bind(&search)
        .bind(&pattern)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM captured WHERE {cond} ORDER BY captured_at DESC, id DESC LIMIT $4 OFFSET $5"
        )))
        .bind(account)
        .bind(&search)
        .bind(&pattern)
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| captured(r, false))
        .collect::<Result<Vec<_>>>()?;
        Ok((rows, total))
    }

    /// One capture with its bytes.
    pub async fn capture(&self, account: Option<i64>, id: i64) -> Result<Captured> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS}, raw FROM captured WHERE {SCOPE} AND id = $2"
        )))
        .bind(account)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| captured(&r, true))
        .transpose()?
        .ok_or(Error::NotFound)
    }

    pub async fn delete_capture(&self, account: Option<i64>, id: i64) -> Result<()> {
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM captured WHERE {SCOPE} AND id = $2"
        )))
        .bind(account)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Removes every capture in scope; returns how many.
    pub async fn clear_captures(&self, account: Option<i64>) -> Result<u64> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM captured WHERE {SCOPE}"
        )))
        .bind(account)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
