//! Messages as the Send API shows them: one per recipient (Mailjet's `MessageID` is a
//! recipient's id), with the message's metadata and the recipient's state and history.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Event, RcptStatus, Result, Store};

/// One recipient of one message, with the message's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// The recipient's id: Mailjet's `MessageID`.
    pub id: i64,
    pub uuid: String,
    pub address: String,
    pub status: RcptStatus,
    pub last_reply: Option<String>,
    pub updated_at: i64,
    /// The spooled message this recipient belongs to.
    pub message_id: i64,
    pub mail_from: String,
    pub size: i64,
    pub created_at: i64,
    pub custom_id: String,
    pub event_payload: String,
    pub campaign: String,
    pub subject: String,
    /// Delivery attempts made for this recipient.
    pub attempts: i64,
    /// Its first open, first click and unsubscription (unix ms), if any.
    pub opened_at: Option<i64>,
    pub clicked_at: Option<i64>,
    pub unsub_at: Option<i64>,
    /// Whether the message tracks opens / clicks (`TRACK_*` bits).
    pub tracking: u8,
}

const VIEW: &str = "SELECT r.id AS id, r.uuid AS uuid, r.address AS address, r.status AS status,
        r.last_reply AS last_reply, r.updated_at AS updated_at, m.id AS message_id,
        m.mail_from AS mail_from, m.size AS size, m.created_at AS created_at,
        m.custom_id AS custom_id, m.event_payload AS event_payload, m.campaign AS campaign,
        m.subject AS subject, r.opened_at AS opened_at, r.clicked_at AS clicked_at,
        r.unsub_at AS unsub_at, m.tracking AS tracking,
        (SELECT COUNT(*) FROM events e WHERE e.message_id = m.id AND e.recipient = r.address
            AND e.kind IN ('sent', 'deferred', 'bounced', 'expired')) AS attempts
    FROM recipients r JOIN messages m ON m.id = r.message_id";

fn view_from_row(r: &AnyRow) -> Result<MessageView> {
    Ok(MessageView {
        id: r.try_get("id")?,
        uuid: r.try_get("uuid")?,
        address: r.try_get("address")?,
        status: r.try_get::<String, _>("status")?.parse()?,
        last_reply: r.try_get("last_reply")?,
        updated_at: r.try_get("updated_at")?,
        message_id: r.try_get("message_id")?,
        mail_from: r.try_get("mail_from")?,
        size: r.try_get("size")?,
        created_at: r.try_get("created_at")?,
        custom_id: r.try_get("custom_id")?,
        event_payload: r.try_get("event_payload")?,
        campaign: r.try_get("campaign")?,
        subject: r.try_get("subject")?,
        attempts: r.try_get("attempts")?,
        opened_at: r.try_get("opened_at")?,
        clicked_at: r.try_get("clicked_at")?,
        unsub_at: r.try_get("unsub_at")?,
        tracking: r.try_get::<i64, _>("tracking")? as u8,
    })
}

/// What the message log searches by; every field optional.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    /// A part of the recipient's address (case-insensitive).
    pub recipient: Option<String>,
    pub custom_id: Option<String>,
    pub status: Option<RcptStatus>,
    /// Created at or after / before (unix ms).
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Store {
    /// The account's messages matching `search`, newest first, with the total before paging.
    pub async fn message_search(
        &self,
        account_id: i64,
        search: &MessageSearch,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<MessageView>, i64)> {
        let pattern = search
            .recipient
            .as_deref()
            .map(|r| crate::like_contains(r.trim()));
        let filter = "m.account_id = $1 AND ($2 = '' OR LOWER(r.address) LIKE $2 ESCAPE '\\')
            AND ($3 = '' OR m.custom_id = $3) AND ($4 = '' OR r.status = $4)
            AND m.created_at >= $5 AND m.created_at < $6";
        let binds = |q: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>| {
            q.bind(account_id)
                .bind(pattern.clone().unwrap_or_default())
                .bind(search.custom_id.clone().unwrap_or_default())
                .bind(search.status.map(|s| s.as_str()).unwrap_or(""))
                .bind(search.from.unwrap_or(i64::MIN))
                .bind(search.to.unwrap_or(i64::MAX))
        };
        let rows = binds(sqlx::query(sqlx::AssertSqlSafe(format!(
            "{VIEW} WHERE {filter} ORDER BY r.id DESC LIMIT $7 OFFSET $8"
        ))))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = binds(sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM recipients r JOIN messages m ON m.id = r.message_id WHERE {filter}"
        ))))
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok((
            rows.iter().map(view_from_row).collect::<Result<_>>()?,
            total,
        ))
    }

    /// A spooled message's content as stored (before per-recipient tracking), if it belongs
    /// to `account_id`.
    pub async fn message_body(&self, account_id: i64, message_id: i64) -> Result<Vec<u8>> {
        sqlx::query("SELECT body FROM messages WHERE id = $1 AND account_id = $2")
            .bind(message_id)
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound)?
            .try_get("body")
            .map_err(Error::from)
    }

    /// One recipient's message, if it belongs to `account_id`.
    pub async fn message_view(&self, account_id: i64, id: i64) -> Result<MessageView> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{VIEW} WHERE m.account_id = $1 AND r.id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        view_from_row(&row)
    }

    /// The account's messages, newest first, optionally only those with a CustomID; with the
    /// total count before paging.
    pub async fn message_views(
        &self,
        account_id: i64,
        custom_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<MessageView>, i64)> {
        let search = MessageSearch {
            custom_id: custom_id.map(str::to_string),
            ..MessageSearch::default()
        };
        self.message_search(account_id, &search, limit, offset)
            .await
    }

    /// Every event of one recipient's message, oldest first.
    pub async fn message_history(&self, account_id: i64, id: i64) -> Result<Vec<Event>> {
        let view = self.message_view(account_id, id).await?;
        Ok(self
            .events(view.message_id)
            .await?
            .into_iter()
            .filter(|e| e.recipient.as_deref() == Some(view.address.as_str()))
            .collect())
    }
}
