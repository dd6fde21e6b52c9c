//! The people who sign in to the web app (issue 13's foundation): users with an argon2id
//! password hash (hashed by the engine; the store keeps the PHC string), their role on each
//! account (Mailjet's account sharing: Owner, Manager, Developer, Marketer, Designer,
//! Accountant), their sessions and the one-time links that create or recover them (the
//! owner's first-start link, invitations, password resets). Session and link tokens are
//! kept as SHA-256 hashes: a copy of the database signs nobody in.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::accounts::secret_hash;
use crate::{Error, Result, Store};

/// A role on an account, as Mailjet's account sharing names them, or a custom role (one of
/// [`CustomRole`], by id) built from permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Owner,
    Manager,
    Developer,
    Marketer,
    Designer,
    Accountant,
    Custom(i64),
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Owner,
        Role::Manager,
        Role::Developer,
        Role::Marketer,
        Role::Designer,
        Role::Accountant,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Developer => "developer",
            Role::Marketer => "marketer",
            Role::Designer => "designer",
            Role::Accountant => "accountant",
            Role::Custom(_) => "custom",
        }
    }

    /// How the role is kept and sent in forms: its name, or `custom:ID`.
    pub fn key(self) -> String {
        match self {
            Role::Custom(id) => format!("custom:{id}"),
            r => r.as_str().to_string(),
        }
    }

    /// A predefined role's name (any case) or a custom role's `custom:ID`.
    pub fn parse(s: &str) -> Option<Role> {
        let s = s.trim();
        if let Some(id) = s.strip_prefix("custom:") {
            return id.parse().ok().map(Role::Custom);
        }
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

/// A role built from permissions (their names, as the HTTP layer defines them:
/// `templates:view`, `templates:publish`, …), granted like the predefined ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    pub id: i64,
    pub name: String,
    pub permissions: Vec<String>,
    pub created_at: i64,
}

fn custom_role_of(r: &AnyRow) -> Result<CustomRole> {
    Ok(CustomRole {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        permissions: serde_json::from_str(&r.try_get::<String, _>("permissions")?)
            .map_err(|e| Error::Unavailable(format!("a custom role's permissions: {e}")))?,
        created_at: r.try_get("created_at")?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    /// Lower case.
    pub email: String,
    pub name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// A signed-in person's session, found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    /// The token every state-changing form and call must carry.
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// The first start's link that creates the owner.
    Owner,
    Invitation,
    PasswordReset,
}

impl LinkKind {
    fn as_str(self) -> &'static str {
        match self {
            LinkKind::Owner => "owner",
            LinkKind::Invitation => "invitation",
            LinkKind::PasswordReset => "reset",
        }
    }
}

/// A one-time link, as made or as used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub kind: LinkKind,
    pub email: String,
    pub user_id: Option<i64>,
    /// For an invitation: the account and the role it grants.
    pub account_id: Option<i64>,
    pub role: Option<Role>,
    pub created_at: i64,
    pub expires_at: i64,
}

const USER_COLS: &str = "id, email, name, password_hash, created_at, disabled_at";

fn user_of(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        password_hash: r.try_get("password_hash")?,
        created_at: r.try_get("created_at")?,
        disabled_at: r.try_get("disabled_at")?,
    })
}

fn role_of(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| Error::Unavailable(format!("unknown role {s:?} in the database")))
}

/// An e-mail address as kept: trimmed, lower case, checked for one `@` with text around it.
pub fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim().to_ascii_lowercase();
    match e.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && e.len() <= 254
                && !e.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(e)
        }
        _ => Err(Error::Invalid(format!(
            "{:?} is not an e-mail address",
            email.trim()
        ))),
    }
}

impl Store {
    /// How many people there are (none: the first start's owner link is offered).
    pub async fn users_count(&self) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("n")?)
    }

    /// Adds a person; `Conflict` when the address is someone's already.
    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<User> {
        let email = normalize_email(email)?;
        if self.user_by_email(&email).await?.is_some() {
            return Err(Error::Conflict(format!("{email} already has an account")));
        }
        let id = self.ids.next(now);
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(&email)
        .bind(name.trim())
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            // Two at once with one address: the UNIQUE index decides.
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::Conflict(format!("{email} already has an account"))
            }
            e => e.into(),
        })?;
        self.user(id).await
    }

    pub async fn user(&self, id: i64) -> Result<User> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_of)
        .transpose()?
        .ok_or(Error::NotFound)
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLS} FROM users WHERE email = $1"
        )))
        .bind(email.trim().to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_of)
        .transpose()
    }

    /// A new password hash; every session of the person ends (a reset signs out everywhere).
    pub async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        let mut tx = crate::tx::Tx::begin(&self.pool, self.backend).await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        sqlx::query("DELETE FROM user_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Gives a person a role on an account (replacing the one they had there).
    pub async fn grant(&self, user_id: i64, account_id: i64, role: Role) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (user_id, account_id, role) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, account_id) DO UPDATE SET role = excluded.role",
        )
        .bind(user_id)
        .bind(account_id)
        .bind(role.key())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes a person's role on an account away; whether they had one.
    pub async fn revoke(&self, user_id: i64, account_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Makes a custom role; its name is unique (any case).
    pub async fn create_custom_role(
        &self,
        name: &str,
        permissions: &[String],
        now: i64,
    ) -> Result<CustomRole> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(Error::Invalid(
                "a role's name has 1 to 60 characters".into(),
            ));
        }
        if Role::parse(name).is_some()
            || self
                .custom_roles()
                .await?
                .iter()
                .any(|r| r.name.eq_ignore_ascii_case(name))
        {
            return Err(Error::Conflict(format!("a role is already named {name:?}")));
        }
        let mut permissions = permissions.to_vec();
        permissions.sort();
        permissions.dedup();
        let row = sqlx::query(
            "INSERT INTO custom_roles (name, permissions, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(serde_json::Value::from(permissions.clone()).to_string())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(CustomRole {
            id: row.try_get("id")?,
            name: name.to_string(),
            permissions,
            created_at: now,
        })
    }

    /// Every custom role, by name.
    pub async fn custom_roles(&self) -> Result<Vec<CustomRole>> {
        sqlx::query(
            "SELECT id, name, permissions, created_at FROM custom_roles ORDER BY LOWER(name), id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(custom_role_of)
        .collect()
    }

    pub async fn custom_role(&self, id: i64) -> Result<CustomRole> {
        sqlx::query("SELECT id, name, permissions, created_at FROM custom_roles WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(custom_role_of)
            .ok_or(Error::NotFound)?
    }

    /// Deletes a custom role no one holds (a role in use is a conflict: give those people
    /// another role first).
    pub async fn delete_custom_role(&self, id: i64) -> Result<()> {
        let held: i64 = sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE role = $1")
            .bind(Role::Custom(id).key())
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        if held > 0 {
            return Err(Error::Conflict(format!(
                "{held} person(s) hold this role: give them another role first"
            )));
        }
        let done = sqlx::query("DELETE FROM custom_roles WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// A person's roles: (account, role), by account.
    pub async fn memberships(&self, user_id: i64) -> Result<Vec<(i64, Role)>> {
        sqlx::query(
            "SELECT account_id, role FROM memberships WHERE user_id = $1 ORDER BY account_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("account_id")?,
                role_of(&r.try_get::<String, _>("role")?)?,
            ))
        })
        .collect()
    }

    /// The accounts a person has a role on, with the role, by account id (one query).
    pub async fn member_accounts(&self, user_id: i64) -> Result<Vec<(crate::Account, Role)>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, m.member_role AS member_role FROM accounts
             JOIN (SELECT account_id AS member_of, role AS member_role FROM memberships WHERE user_id = $1) m
               ON m.member_of = accounts.id
             ORDER BY accounts.id",
            crate::accounts::ACCOUNT_COLS
                .split(", ")
                .map(|c| format!("accounts.{c} AS {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                crate::accounts::account_from_row(r)?,
                role_of(&r.try_get::<String, _>("member_role")?)?,
            ))
        })
        .collect()
    }

    /// An account's people and their roles, by address.
    pub async fn members(&self, account_id: i64) -> Result<Vec<(User, Role)>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, m.role AS role FROM users u JOIN memberships m ON m.user_id = u.id
             WHERE m.account_id = $1 ORDER BY u.email",
            USER_COLS
                .split(", ")
                .map(|c| format!("u.{c} AS {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((user_of(r)?, role_of(&r.try_get::<String, _>("role")?)?)))
        .collect()
    }

    /// Opens a session under `token` (kept hashed) until `expires_at`.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_session(
        &self,
        user_id: i64,
        token: &str,
        csrf: &str,
        now: i64,
        expires_at: i64,
        ip: &str,
        agent: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO user_sessions (token_hash, user_id, csrf, created_at, last_seen_at, expires_at, ip, agent)
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(secret_hash(token))
        .bind(user_id)
        .bind(csrf)
        .bind(now)
        .bind(expires_at)
        .bind(ip)
        .bind(agent.chars().take(512).collect::<String>())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session of `token` (not expired, its person not disabled).
    pub async fn session(&self, token: &str, now: i64) -> Result<Option<Session>> {
        Ok(self.session_user(token, now).await?.map(|(s, _)| s))
    }

    /// [`Store::session`] with the person it belongs to, read in the same query.
    pub async fn session_user(&self, token: &str, now: i64) -> Result<Option<(Session, User)>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {}, s.csrf AS csrf, s.created_at AS s_created_at, s.expires_at AS expires_at
             FROM user_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
            USER_COLS
                .split(", ")
                .map(|c| format!("u.{c} AS {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .bind(secret_hash(token))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| {
            let user = user_of(&r)?;
            Ok((
                Session {
                    user_id: user.id,
                    csrf: r.try_get("csrf")?,
                    created_at: r.try_get("s_created_at")?,
                    expires_at: r.try_get("expires_at")?,
                },
                user,
            ))
        })
        .transpose()
    }

    /// Ends one session (signing out); whether it was open.
    pub async fn end_session(&self, token: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM user_sessions WHERE token_hash = $1")
            .bind(secret_hash(token))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends every session of a person (signing out everywhere); how many there were.
    pub async fn end_sessions_of(&self, user_id: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Keeps a one-time link under `token` (hashed).
    pub async fn create_link(&self, token: &str, link: &Link) -> Result<()> {
        sqlx::query(
            "INSERT INTO user_links (token_hash, kind, email, user_id, account_id, role, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(secret_hash(token))
        .bind(link.kind.as_str())
        .bind(link.email.trim().to_ascii_lowercase())
        .bind(link.user_id)
        .bind(link.account_id)
        .bind(link.role.map(Role::key))
        .bind(link.created_at)
        .bind(link.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Uses a link of this kind once: the link, if `token` names one that is unused and not
    /// expired (two uses at once: one wins).
    pub async fn use_link(&self, token: &str, kind: LinkKind, now: i64) -> Result<Option<Link>> {
        sqlx::query(
            "UPDATE user_links SET used_at = $1
             WHERE token_hash = $2 AND kind = $3 AND used_at IS NULL AND expires_at > $1
             RETURNING email, user_id, account_id, role, created_at, expires_at",
        )
        .bind(now)
        .bind(secret_hash(token))
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| {
            Ok(Link {
                kind,
                email: r.try_get("email")?,
                user_id: r.try_get("user_id")?,
                account_id: r.try_get("account_id")?,
                role: r
                    .try_get::<Option<String>, _>("role")?
                    .map(|s| role_of(&s))
                    .transpose()?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_addresses() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse(" Marketer "), Some(Role::Marketer));
        assert_eq!(Role::parse("admin"), None);
        assert_eq!(Role::parse("custom:42"), Some(Role::Custom(42)));
        assert_eq!(Role::Custom(42).key(), "custom:42");
        assert_eq!(Role::parse("custom:x"), None);
        assert_eq!(
            normalize_email(" Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@localhost",
            "a b@example.com",
            "a@b@c.d",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
