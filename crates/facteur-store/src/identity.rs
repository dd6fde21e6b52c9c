//! Sender identity and the suppression list: an account's sending domains with their DKIM keys
//! (the private key arrives sealed: the store never sees it in clear), and the addresses not
//! to send to (hard bounces, complaints, unsubscriptions, manual entries; soft bounces once
//! they repeat).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Error, Result, Store};

/// A sending domain of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: i64,
    pub account_id: i64,
    /// Lower case, no trailing dot.
    pub name: String,
    pub created_at: i64,
    pub keys: Vec<DkimKey>,
    /// The last DNS check: when, and what it found (JSON, as the API shows it).
    pub checked_at: Option<i64>,
    pub check_result: Option<String>,
    /// When a check first found the domain's DKIM record (the domain is proven the account's:
    /// its addresses may send when the account enforces sender validation).
    pub verified_at: Option<i64>,
    /// The base URL of the tracking and unsubscribe links of its mail; empty: the account's,
    /// else the server's `public_url`.
    pub track_host: String,
}

/// Where a key is in its life: `pending` (published, not yet signing), `active` (signing),
/// `retired` (no longer signing; its record may be removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Pending,
    Active,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    fn parse(s: &str) -> Result<KeyState> {
        match s {
            "pending" => Ok(KeyState::Pending),
            "active" => Ok(KeyState::Active),
            "retired" => Ok(KeyState::Retired),
            other => Err(Error::Unavailable(format!(
                "unknown DKIM key state {other:?} in the database"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub id: i64,
    pub domain_id: i64,
    pub selector: String,
    /// `rsa` or `ed25519`.
    pub algorithm: String,
    /// The private key, sealed by the engine (nonce and ciphertext).
    pub sealed_private_key: Vec<u8>,
    /// Base64, the `p=` of the record.
    pub public_key: String,
    pub state: KeyState,
    pub created_at: i64,
}

/// A key to add to a domain.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub selector: String,
    pub algorithm: String,
    pub sealed_private_key: Vec<u8>,
    pub public_key: String,
    pub state: KeyState,
}

/// Why an address is on the suppression list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionReason {
    HardBounce,
    /// Counted: suppresses only once it repeats (see [`Store::record_soft_bounce`]).
    SoftBounce,
    Complaint,
    Unsubscribe,
    Manual,
}

impl SuppressionReason {
    pub const ALL: [SuppressionReason; 5] = [
        SuppressionReason::HardBounce,
        SuppressionReason::SoftBounce,
        SuppressionReason::Complaint,
        SuppressionReason::Unsubscribe,
        SuppressionReason::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::HardBounce => "hard-bounce",
            SuppressionReason::SoftBounce => "soft-bounce",
            SuppressionReason::Complaint => "complaint",
            SuppressionReason::Unsubscribe => "unsubscribe",
            SuppressionReason::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<SuppressionReason> {
        SuppressionReason::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

/// One address on a suppression list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// 0: the operator's global list.
    pub account_id: i64,
    pub address: String,
    pub reason: SuppressionReason,
    pub detail: String,
    /// The message that caused it, if one did.
    pub message_id: Option<i64>,
    /// Soft bounces counted so far (1 for the other reasons).
    pub failures: i64,
    pub first_at: i64,
    pub updated_at: i64,
    /// When it stops applying; `None`: until removed.
    pub expires_at: Option<i64>,
    /// Whether it stops mail now (a soft bounce below its threshold does not yet).
    pub active: bool,
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct SuppressionFilter {
    pub reason: Option<SuppressionReason>,
    /// Part of the address.
    pub address: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// The account id of the global list.
pub const GLOBAL: i64 = 0;

const SUPPRESSION_COLS: &str = "account_id, address, reason, detail, message_id, failures, first_at, updated_at, expires_at, active";

fn suppression_of(r: &AnyRow) -> Result<Suppression> {
    let reason: String = r.try_get("reason")?;
    Ok(Suppression {
        account_id: r.try_get("account_id")?,
        address: r.try_get("address")?,
        reason: SuppressionReason::parse(&reason).ok_or_else(|| {
            Error::Unavailable(format!(
                "unknown suppression reason {reason:?} in the database"
            ))
        })?,
        detail: r.try_get("detail")?,
        message_id: r.try_get("message_id")?,
        failures: r.try_get("failures")?,
        first_at: r.try_get("first_at")?,
        updated_at: r.try_get("updated_at")?,
        expires_at: r.try_get("expires_at")?,
        active: r.try_get::<i64, _>("active")? != 0,
    })
}

fn key_of(r: &AnyRow) -> Result<DkimKey> {
    Ok(DkimKey {
        id: r.try_get("id")?,
        domain_id: r.try_get("domain_id")?,
        selector: r.try_get("selector")?,
        algorithm: r.try_get("algorithm")?,
        sealed_private_key: r.try_get("private_key")?,
        public_key: r.try_get("public_key")?,
        state: KeyState::parse(&r.try_get::<String, _>("state")?)?,
        created_at: r.try_get("created_at")?,
    })
}

/// A domain name as stored: lower case, no trailing dot, checked.
pub fn normalize_domain(name: &str) -> Result<String> {
    let d = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(d)
    } else {
        Err(Error::Invalid(format!("{name:?} is not a domain name")))
    }
}

impl Store {
    // ---- domains and DKIM keys ----------------------------------------------------------

    /// Adds a domain with its first keys. A domain belongs to one account.
    pub async fn create_domain(
        &self,
        account_id: i64,
        name: &str,
        keys: Vec<NewKey>,
        now: i64,
    ) -> Result<Domain> {
        let name = normalize_domain(name)?;
        let taken = sqlx::query("SELECT account_id FROM domains WHERE name = $1")
            .bind(&name)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(r) = taken {
            let owner: i64 = r.try_get("account_id")?;
            return Err(Error::Conflict(if owner == account_id {
                format!("{name} is already a domain of this account")
            } else {
                format!("{name} is a domain of another account")
            }));
        }
        let id = self.ids.next(now);
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        sqlx::query(
            "INSERT INTO domains (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(account_id)
        .bind(&name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for k in keys {
            insert_key(&mut tx, self.ids.next(now), id, k, now).await?;
        }
        tx.commit().await?;
        self.domain(account_id, id).await
    }

    /// The account's domains, by name.
    pub async fn domains(&self, account_id: i64) -> Result<Vec<Domain>> {
        let ids: Vec<i64> =
            sqlx::query("SELECT id FROM domains WHERE account_id = $1 ORDER BY name")
                .bind(account_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.domain(account_id, id).await?);
        }
        Ok(out)
    }

    /// One of the account's domains, by id.
    pub async fn domain(&self, account_id: i64, id: i64) -> Result<Domain> {
        let r = sqlx::query(
            "SELECT id, account_id, name, created_at, checked_at, check_result, verified_at, track_host FROM domains WHERE id = $1 AND account_id = $2",
        )
        .bind(id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        let keys = sqlx::query(
            "SELECT id, domain_id, selector, algorithm, private_key, public_key, state, created_at
             FROM dkim_keys WHERE domain_id = $1 ORDER BY created_at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_of)
        .collect::<Result<Vec<_>>>()?;
        Ok(Domain {
            id: r.try_get("id")?,
            account_id: r.try_get("account_id")?,
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
            keys,
            checked_at: r.try_get("checked_at")?,
            check_result: r.try_get("check_result")?,
            verified_at: r.try_get("verified_at")?,
            track_host: r.try_get("track_host")?,
        })
    }

    /// Sets the tracking host of one of the account's domains (`""`: none).
    pub async fn set_domain_track_host(&self, account_id: i64, id: i64, host: &str) -> Result<()> {
        let done =
            sqlx::query("UPDATE domains SET track_host = $1 WHERE id = $2 AND account_id = $3")
                .bind(host)
                .bind(id)
                .bind(account_id)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Records a DNS check of a domain; `verified`: its DKIM record was found (the first time
    /// sets `verified_at`, later failures do not unset it: a DNS outage does not stop mail).
    pub async fn record_domain_check(
        &self,
        id: i64,
        result: &str,
        verified: bool,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE domains SET checked_at = $1, check_result = $2,
                verified_at = CASE WHEN $3 <> 0 AND verified_at IS NULL THEN $1 ELSE verified_at END
             WHERE id = $4",
        )
        .bind(now)
        .bind(result)
        .bind(i64::from(verified))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// (account, domain) of every verified domain.
    pub async fn verified_domains(&self) -> Result<Vec<(i64, String)>> {
        sqlx::query("SELECT account_id, name FROM domains WHERE verified_at IS NOT NULL")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("account_id")?, r.try_get("name")?)))
            .collect()
    }

    /// One of the account's domains, by name.
    pub async fn domain_by_name(&self, account_id: i64, name: &str) -> Result<Domain> {
        let name = normalize_domain(name)?;
        let id: i64 = sqlx::query("SELECT id FROM domains WHERE name = $1 AND account_id = $2")
            .bind(&name)
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound)?
            .try_get("id")?;
        self.domain(account_id, id).await
    }

    pub async fn delete_domain(&self, account_id: i64, id: i64) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let gone = sqlx::query("DELETE FROM domains WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(Error::NotFound);
        }
        sqlx::query("DELETE FROM dkim_keys WHERE domain_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds keys to a domain (a rotation's new selector).
    pub async fn add_keys(
        &self,
        account_id: i64,
        domain_id: i64,
        keys: Vec<NewKey>,
        now: i64,
    ) -> Result<Domain> {
        self.domain(account_id, domain_id).await?;
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        for k in keys {
            insert_key(&mut tx, self.ids.next(now), domain_id, k, now).await?;
        }
        tx.commit().await?;
        self.domain(account_id, domain_id).await
    }

    /// Moves keys of a domain to a state (`active` to switch to a rotation's new keys,
    /// `retired` for the old ones), in one transaction.
    pub async fn set_key_states(
        &self,
        account_id: i64,
        domain_id: i64,
        changes: &[(i64, KeyState)],
    ) -> Result<Domain> {
        self.domain(account_id, domain_id).await?;
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        for (key, state) in changes {
            sqlx::query("UPDATE dkim_keys SET state = $1 WHERE id = $2 AND domain_id = $3")
                .bind(state.as_str())
                .bind(key)
                .bind(domain_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.domain(account_id, domain_id).await
    }

    /// Every active key of every domain, with its domain's name and account: what the signer
    /// loads.
    pub async fn active_keys(&self) -> Result<Vec<(i64, String, DkimKey)>> {
        sqlx::query(
            "SELECT d.account_id AS account_id, d.name AS name, k.id AS id, k.domain_id AS domain_id,
                    k.selector AS selector, k.algorithm AS algorithm, k.private_key AS private_key,
                    k.public_key AS public_key, k.state AS state, k.created_at AS created_at
             FROM dkim_keys k JOIN domains d ON d.id = k.domain_id
             WHERE k.state = 'active' ORDER BY d.name, k.created_at",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("account_id")?, r.try_get("name")?, key_of(r)?)))
        .collect()
    }

    // ---- suppression ----------------------------------------------------------------------

    /// Puts an address on a list (`account_id` 0: the global list), or updates its entry.
    /// An unsubscription never replaces an entry that stops all mail now (a hard bounce, a
    /// complaint, a manual entry, soft bounces that reached their threshold): it stops only
    /// marketing mail.
    pub async fn suppress(&self, entry: &Suppression) -> Result<()> {
        let address = entry.address.trim().to_ascii_lowercase();
        if !address.contains('@') {
            return Err(Error::Invalid(format!(
                "{:?} is not an e-mail address",
                entry.address
            )));
        }
        sqlx::query(
            "INSERT INTO suppressions (account_id, address, reason, detail, message_id, failures, first_at, updated_at, expires_at, active)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (account_id, address) DO UPDATE SET reason = excluded.reason,
                detail = excluded.detail, message_id = excluded.message_id,
                failures = excluded.failures, updated_at = excluded.updated_at,
                expires_at = excluded.expires_at, active = excluded.active
             WHERE NOT (excluded.reason = 'unsubscribe' AND suppressions.active = 1
                AND suppressions.reason IN ('hard-bounce', 'complaint', 'manual', 'soft-bounce')
                AND (suppressions.expires_at IS NULL OR suppressions.expires_at > excluded.updated_at))",
        )
        .bind(entry.account_id)
        .bind(&address)
        .bind(entry.reason.as_str())
        .bind(&entry.detail)
        .bind(entry.message_id)
        .bind(entry.failures)
        .bind(entry.first_at)
        .bind(entry.updated_at)
        .bind(entry.expires_at)
        .bind(i64::from(entry.active))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts a soft bounce of an address: it suppresses once `threshold` have been seen over
    /// at least `min_span_ms` (a full mailbox for days, not one bad hour), for `expire_ms`.
    /// An entry for a stronger reason is left as it is. Returns whether it now suppresses.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_soft_bounce(
        &self,
        account_id: i64,
        address: &str,
        detail: &str,
        message_id: Option<i64>,
        threshold: i64,
        min_span_ms: i64,
        expire_ms: i64,
        now: i64,
    ) -> Result<bool> {
        let address = address.trim().to_ascii_lowercase();
        let existing = self.suppression(account_id, &address).await?;
        let (failures, first_at) = match &existing {
            Some(e) if e.reason != SuppressionReason::SoftBounce => return Ok(e.active),
            // Counts start again once an earlier run of failures has expired.
            Some(e) if e.expires_at.is_some_and(|x| x <= now) => (1, now),
            Some(e) => (e.failures + 1, e.first_at),
            None => (1, now),
        };
        let active = failures >= threshold && now - first_at >= min_span_ms;
        self.suppress(&Suppression {
            account_id,
            address,
            reason: SuppressionReason::SoftBounce,
            detail: detail.to_string(),
            message_id,
            failures,
            first_at,
            updated_at: now,
            expires_at: Some(now + expire_ms),
            active,
        })
        .await?;
        Ok(active)
    }

    pub async fn suppression(&self, account_id: i64, address: &str) -> Result<Option<Suppression>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUPPRESSION_COLS} FROM suppressions WHERE account_id = $1 AND address = $2"
        )))
        .bind(account_id)
        .bind(address.trim().to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(suppression_of)
        .transpose()
    }

    /// Of `addresses`, those on the account's list or the global one now, with the entry
    /// that stops them.
    pub async fn suppressed(
        &self,
        account_id: Option<i64>,
        addresses: &[String],
        now: i64,
    ) -> Result<Vec<Suppression>> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let lower: Vec<String> = addresses.iter().map(|a| a.to_ascii_lowercase()).collect();
        let mut out = Vec::new();
        for chunk in lower.chunks(100) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "SELECT {SUPPRESSION_COLS} FROM suppressions
                 WHERE account_id IN ($1, 0) AND active = 1
                   AND (expires_at IS NULL OR expires_at > $2) AND address IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(account_id.unwrap_or(GLOBAL))
                .bind(now);
            for a in chunk {
                q = q.bind(a.clone());
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(suppression_of(&r)?);
            }
        }
        Ok(out)
    }

    /// The entries of a list, newest first, and how many match in all.
    pub async fn suppressions(
        &self,
        account_id: i64,
        filter: &SuppressionFilter,
    ) -> Result<(Vec<Suppression>, i64)> {
        let reason = filter.reason.map(|r| r.as_str().to_string());
        let like = filter
            .address
            .as_ref()
            .map(|a| format!("%{}%", a.to_ascii_lowercase().replace(['%', '_'], "")));
        let cond =
            "account_id = $1 AND ($2 IS NULL OR reason = $2) AND ($3 IS NULL OR address LIKE $3)";
        let total: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM suppressions WHERE {cond}"
        )))
        .bind(account_id)
        .bind(reason.clone())
        .bind(like.clone())
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUPPRESSION_COLS} FROM suppressions WHERE {cond}
             ORDER BY updated_at DESC, address LIMIT $4 OFFSET $5"
        )))
        .bind(account_id)
        .bind(reason)
        .bind(like)
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(suppression_of)
        .collect::<Result<Vec<_>>>()?;
        Ok((rows, total))
    }

    /// The accounts (0: the global list) with at least one entry that stops mail: `submit`
    /// looks a message's recipients up only for these.
    pub async fn accounts_with_suppressions(&self) -> Result<Vec<i64>> {
        sqlx::query("SELECT DISTINCT account_id FROM suppressions WHERE active = 1")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get("account_id")?))
            .collect()
    }

    /// Takes an address off a list.
    pub async fn unsuppress(&self, account_id: i64, address: &str) -> Result<()> {
        let gone = sqlx::query("DELETE FROM suppressions WHERE account_id = $1 AND address = $2")
            .bind(account_id)
            .bind(address.trim().to_ascii_lowercase())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if gone == 0 {
            Err(Error::NotFound)
        } else {
            Ok(())
        }
    }
}

async fn insert_key(
    tx: &mut crate::tx::Tx,
    id: i64,
    domain_id: i64,
    k: NewKey,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO dkim_keys (id, domain_id, selector, algorithm, private_key, public_key, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(domain_id)
    .bind(&k.selector)
    .bind(&k.algorithm)
    .bind(k.sealed_private_key)
    .bind(&k.public_key)
    .bind(k.state.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Conflict(format!("selector {} is already used on this domain", k.selector))
        }
        _ => Error::from(e),
    })?;
    Ok(())
}
