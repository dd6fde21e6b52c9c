//! Senders: the From addresses an account may use (Mailjet's `/v3/REST/sender`), one address or
//! a catch-all `*@domain`, `Inactive` until validated (a confirmation link for an address, the
//! domain's DNS check for a catch-all), then `Active`; and each account's switch that turns
//! the check on or off (on by default, off for the first account of a new server).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Result, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderStatus {
    Inactive,
    Active,
    Deleted,
}

impl SenderStatus {
    /// Mailjet's names.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderStatus::Inactive => "Inactive",
            SenderStatus::Active => "Active",
            SenderStatus::Deleted => "Deleted",
        }
    }

    fn parse(s: &str) -> Result<SenderStatus> {
        match s {
            "Inactive" => Ok(SenderStatus::Inactive),
            "Active" => Ok(SenderStatus::Active),
            "Deleted" => Ok(SenderStatus::Deleted),
            other => Err(Error::Unavailable(format!(
                "unknown sender status {other:?} in the database"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub id: i64,
    pub account_id: i64,
    /// Lower case; `*@domain` for a catch-all.
    pub email: String,
    pub name: String,
    /// `transactional`, `bulk` or `unknown`.
    pub email_type: String,
    pub is_default: bool,
    pub status: SenderStatus,
    /// The secret of the confirmation link.
    pub token: String,
    /// `ActivationEmail`, `DNS`, `Domain` once validated.
    pub method: Option<String>,
    pub created_at: i64,
    pub validated_at: Option<i64>,
}

impl Sender {
    pub fn is_catch_all(&self) -> bool {
        self.email.starts_with("*@")
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        self.email.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

const COLS: &str = "id, account_id, email, name, email_type, is_default, status, token, method, created_at, validated_at";

fn sender(r: &AnyRow) -> Result<Sender> {
    Ok(Sender {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        email_type: r.try_get("email_type")?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
        status: SenderStatus::parse(&r.try_get::<String, _>("status")?)?,
        token: r.try_get("token")?,
        method: r.try_get("method")?,
        created_at: r.try_get("created_at")?,
        validated_at: r.try_get("validated_at")?,
    })
}

/// A sender to add.
#[derive(Debug, Clone, Copy)]
pub struct NewSender<'a> {
    pub account_id: i64,
    /// An address, or `*@domain`.
    pub email: &'a str,
    pub name: &'a str,
    /// `transactional`, `bulk` or `unknown`.
    pub email_type: &'a str,
    pub is_default: bool,
    /// The secret of its confirmation link.
    pub token: &'a str,
}

/// What the sender check needs of every account: which ones do not enforce it, and their
/// active senders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderRules {
    pub exempt: Vec<i64>,
    /// (account, lower-case address or `*@domain`).
    pub active: Vec<(i64, String)>,
}

impl Store {
    /// A new sender, `Inactive`; an address the account already has (even deleted) is a
    /// conflict, except a deleted one, which comes back inactive.
    pub async fn create_sender(&self, new: &NewSender<'_>, now: i64) -> Result<Sender> {
        let NewSender {
            account_id,
            email,
            name,
            email_type,
            is_default,
            token,
        } = *new;
        let email = email.trim().to_ascii_lowercase();
        if let Some(existing) = self.sender_by_email(account_id, &email).await? {
            if existing.status != SenderStatus::Deleted {
                return Err(Error::Conflict(format!(
                    "the sender {email} exists already (ID {})",
                    existing.id
                )));
            }
            sqlx::query(
                "UPDATE senders SET status = 'Inactive', name = $1, email_type = $2, is_default = $3, token = $4, method = NULL, validated_at = NULL WHERE id = $5",
            )
            .bind(name)
            .bind(email_type)
            .bind(i64::from(is_default))
            .bind(token)
            .bind(existing.id)
            .execute(&self.pool)
            .await?;
            return self.sender(account_id, existing.id).await;
        }
        let id = self.ids.next(now);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO senders ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, 'Inactive', $7, NULL, $8, NULL)"
        )))
        .bind(id)
        .bind(account_id)
        .bind(&email)
        .bind(name)
        .bind(email_type)
        .bind(i64::from(is_default))
        .bind(token)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.sender(account_id, id).await
    }

    pub async fn sender(&self, account_id: i64, id: i64) -> Result<Sender> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM senders WHERE id = $1 AND account_id = $2"
        )))
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(sender)
        .transpose()?
        .ok_or(Error::NotFound)
    }

    pub async fn sender_by_email(&self, account_id: i64, email: &str) -> Result<Option<Sender>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM senders WHERE account_id = $1 AND email = $2"
        )))
        .bind(account_id)
        .bind(email.trim().to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(sender)
        .transpose()
    }

    pub async fn sender_by_token(&self, token: &str) -> Result<Option<Sender>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM senders WHERE token = $1"
        )))
        .bind(token)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(sender)
        .transpose()
    }

    /// The account's senders (deleted ones only when asked), by address.
    pub async fn senders(&self, account_id: i64, with_deleted: bool) -> Result<Vec<Sender>> {
        let filter = if with_deleted {
            ""
        } else {
            "AND status <> 'Deleted'"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM senders WHERE account_id = $1 {filter} ORDER BY email"
        )))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sender)
        .collect()
    }

    /// Marks a sender `Active`, validated by `method`.
    pub async fn activate_sender(&self, id: i64, method: &str, now: i64) -> Result<()> {
        let n = sqlx::query(
            "UPDATE senders SET status = 'Active', method = $1, validated_at = $2 WHERE id = $3 AND status <> 'Deleted'",
        )
        .bind(method)
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

    /// Mailjet deletes a sender by marking it `Deleted`.
    pub async fn delete_sender(&self, account_id: i64, id: i64) -> Result<()> {
        let n = sqlx::query(
            "UPDATE senders SET status = 'Deleted' WHERE id = $1 AND account_id = $2 AND status <> 'Deleted'",
        )
        .bind(id)
        .bind(account_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Turns the sender check of an account on or off.
    pub async fn set_enforce_senders(&self, account_id: i64, on: bool) -> Result<()> {
        let n = sqlx::query("UPDATE accounts SET enforce_senders = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(account_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    pub async fn enforces_senders(&self, account_id: i64) -> Result<bool> {
        let row = sqlx::query("SELECT enforce_senders FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(row.try_get::<i64, _>("enforce_senders")? != 0)
    }

    /// Every account that does not enforce the check, and every active sender.
    pub async fn sender_rules(&self) -> Result<SenderRules> {
        let exempt = sqlx::query("SELECT id FROM accounts WHERE enforce_senders = 0")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
        let active = sqlx::query("SELECT account_id, email FROM senders WHERE status = 'Active'")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("account_id")?, r.try_get("email")?)))
            .collect::<Result<_>>()?;
        Ok(SenderRules { exempt, active })
    }
}
