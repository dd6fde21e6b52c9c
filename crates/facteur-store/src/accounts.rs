//! Accounts and their API keys: master keys, sub-account keys, secrets (stored hashed),
//! suspension, the signing secret of webhook calls.

use crate::*;

impl Store {
    // ---- accounts -------------------------------------------------------------------------

    /// Creates an account with a new API key; returns it with the secret key (shown once).
    pub async fn create_account(&self, name: &str, now: i64) -> Result<(Account, String)> {
        self.create_key(name, None, now).await
    }

    /// Creates a sub-account key of `parent` (a master key): its own messages, templates and
    /// events. Returns it with its secret key (shown once).
    pub async fn create_subaccount(
        &self,
        parent: &Account,
        name: &str,
        now: i64,
    ) -> Result<(Account, String)> {
        if parent.parent_id.is_some() {
            return Err(Error::Invalid(
                "only a master API key can create API keys".into(),
            ));
        }
        self.create_key(name, Some(parent.id), now).await
    }

    async fn create_key(
        &self,
        name: &str,
        parent_id: Option<i64>,
        now: i64,
    ) -> Result<(Account, String)> {
        let api_key = random_hex(16);
        let secret = random_hex(16);
        let id = self.ids.next(now);
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        sqlx::query(
            // The sender check is on for every account but a new server's first, so that the
            // first message sends before any sender is validated (`serve` says so).
            "INSERT INTO accounts (id, name, api_key, secret_hash, created_at, parent_id, signing_secret, enforce_senders)
             VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN EXISTS (SELECT 1 FROM accounts) THEN 1 ELSE 0 END)",
        )
        .bind(id)
        .bind(name)
        .bind(&api_key)
        .bind(secret_hash(&secret))
        .bind(now)
        .bind(parent_id)
        .bind(random_hex(32))
        .execute(&mut *tx)
        .await?;
        // The organisation owns its sub-accounts: the master account's owners own this one
        // too, from the moment it exists.
        if let Some(parent) = parent_id {
            sqlx::query(
                "INSERT INTO memberships (user_id, account_id, role)
                 SELECT user_id, $1, role FROM memberships WHERE account_id = $2 AND role = 'owner'",
            )
            .bind(id)
            .bind(parent)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok((
            Account {
                id,
                name: name.into(),
                api_key,
                created_at: now,
                parent_id,
                is_active: true,
                allow_sender: true,
                track_opens: None,
                track_clicks: None,
                track_host: String::new(),
            },
            secret,
        ))
    }

    /// The keys `account` may see: itself and, for a master key, its sub-account keys.
    pub async fn keys_of(&self, account: &Account) -> Result<Vec<Account>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1 OR parent_id = $1 ORDER BY id"
        )))
        .bind(account.id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// Changes a key that `account` may see (itself or one of its sub-account keys).
    pub async fn update_key(
        &self,
        account: &Account,
        id: i64,
        changes: &crate::KeyChanges,
    ) -> Result<Account> {
        let target = self
            .keys_of(account)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(Error::NotFound)?;
        if target.id == account.id && changes.is_active == Some(false) {
            return Err(Error::Invalid(
                "a key cannot deactivate itself: use its master key".into(),
            ));
        }
        // Only the fields given change, in one statement: two requests changing different
        // fields at once both take effect.
        let flag = |v: Option<bool>| v.map(i64::from);
        let set = |v: &Option<Option<bool>>| i64::from(v.is_some());
        sqlx::query(
            "UPDATE accounts SET name = COALESCE($1, name), is_active = COALESCE($2, is_active),
                allow_sender = COALESCE($3, allow_sender),
                track_opens = CASE WHEN $4 <> 0 THEN $5 ELSE track_opens END,
                track_clicks = CASE WHEN $6 <> 0 THEN $7 ELSE track_clicks END,
                track_host = COALESCE($8, track_host) WHERE id = $9",
        )
        .bind(changes.name.as_deref())
        .bind(flag(changes.is_active))
        .bind(flag(changes.allow_sender))
        .bind(set(&changes.track_opens))
        .bind(flag(changes.track_opens.flatten()))
        .bind(set(&changes.track_clicks))
        .bind(flag(changes.track_clicks.flatten()))
        .bind(changes.track_host.as_deref())
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.keys_of(account)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(Error::NotFound)
    }

    /// The accounts with tracking settings of their own, and the domains with a tracking
    /// host: (account, opens, clicks, host), (account, domain, host).
    pub async fn tracking_settings(&self) -> Result<TrackingSettings> {
        let accounts = sqlx::query(
            "SELECT id, track_opens, track_clicks, track_host FROM accounts
             WHERE track_opens IS NOT NULL OR track_clicks IS NOT NULL OR track_host <> ''",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                opt_flag(r, "track_opens")?,
                opt_flag(r, "track_clicks")?,
                r.try_get("track_host")?,
            ))
        })
        .collect::<Result<_>>()?;
        let domains =
            sqlx::query("SELECT account_id, name, track_host FROM domains WHERE track_host <> ''")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("account_id")?,
                        r.try_get("name")?,
                        r.try_get("track_host")?,
                    ))
                })
                .collect::<Result<_>>()?;
        Ok(TrackingSettings { accounts, domains })
    }

    /// The secret with which webhook calls of this account are signed (HMAC-SHA256).
    pub async fn signing_secret(&self, account_id: i64) -> Result<String> {
        let row = sqlx::query("SELECT signing_secret FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound)?;
        let secret: String = row.try_get("signing_secret")?;
        if !secret.is_empty() {
            return Ok(secret);
        }
        // Accounts made before webhooks existed get theirs on first use.
        let secret = random_hex(32);
        sqlx::query(
            "UPDATE accounts SET signing_secret = $1 WHERE id = $2 AND signing_secret = ''",
        )
        .bind(&secret)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT signing_secret FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("signing_secret")?)
    }

    /// Whether the key `id` exists and is active (checked for each message of an SMTP session
    /// that authenticated with it, so that suspending a key stops open sessions too).
    pub async fn account_active(&self, id: i64) -> Result<bool> {
        let row = sqlx::query("SELECT is_active FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("is_active")? != 0,
            None => false,
        })
    }

    /// The account whose API key and secret key these are.
    pub async fn verify_credentials(&self, api_key: &str, secret: &str) -> Result<Option<Account>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLS}, secret_hash FROM accounts WHERE api_key = $1"
        )))
        .bind(api_key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("secret_hash")?;
        let given = secret_hash(secret);
        // Comparing hashes: timing reveals nothing about the secret itself.
        if stored != given {
            return Ok(None);
        }
        Ok(Some(account_from_row(&row)?))
    }

    pub async fn account_by_key(&self, api_key: &str) -> Result<Option<Account>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLS} FROM accounts WHERE api_key = $1"
        )))
        .bind(api_key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub async fn list_accounts(&self) -> Result<Vec<Account>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLS} FROM accounts ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(account_from_row).collect()
    }
}

/// The hash stored for a secret key. Secrets are 128-bit random values generated by Facteur,
/// so a fast hash is safe (a password hash guards low-entropy human secrets) and keeps the
/// per-request check cheap on the API path.
/// What [`Store::tracking_settings`] reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingSettings {
    /// (account, track opens, track clicks, tracking host).
    pub accounts: Vec<(i64, Option<bool>, Option<bool>, String)>,
    /// (account, domain, tracking host).
    pub domains: Vec<(i64, String, String)>,
}

pub(crate) fn secret_hash(secret: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("system random source");
    hex(&buf)
}

pub(crate) const ACCOUNT_COLS: &str = "id, name, api_key, created_at, parent_id, is_active, allow_sender, track_opens, track_clicks, track_host";

/// A nullable 0/1 column: `None` where it is NULL (the server's default applies).
fn opt_flag(row: &AnyRow, col: &str) -> Result<Option<bool>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(|v| v != 0))
}

pub(crate) fn account_from_row(row: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        api_key: row.try_get("api_key")?,
        created_at: row.try_get("created_at")?,
        parent_id: row.try_get("parent_id")?,
        is_active: row.try_get::<i64, _>("is_active")? != 0,
        allow_sender: row.try_get::<i64, _>("allow_sender")? != 0,
        track_opens: opt_flag(row, "track_opens")?,
        track_clicks: opt_flag(row, "track_clicks")?,
        track_host: row.try_get("track_host")?,
    })
}
