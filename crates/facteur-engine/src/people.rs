//! The people who sign in to the web app (issue 13's foundation, no web route yet): passwords
//! hashed with argon2id, sign-in opening a session (a 256-bit token for the cookie and its
//! CSRF token), sign-out here or everywhere, and the one-time links: the first start's link
//! that creates the owner (no default password anywhere), invitations to an account with a
//! role, password resets (which sign out everywhere).

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use facteur_store::people::{Link, LinkKind, Role, Session, User};

use facteur_message::compose::Mailbox;

use crate::core::Core;
use crate::submission::{Content, Draft, Submission, SubmitError};

/// Shortest and longest password taken (argon2 hashes any length; a limit keeps a request
/// from costing more than a hash of a page of text).
pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 1024;

/// How long a session lives without signing in again.
pub const SESSION_MS: i64 = 14 * 86_400_000;
/// How long an invitation, the owner link and a reset link stay usable.
pub const INVITATION_MS: i64 = 7 * 86_400_000;
pub const OWNER_LINK_MS: i64 = 86_400_000;
pub const RESET_MS: i64 = 3_600_000;

/// Why a people operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    /// Wrong address or password (which one is not said).
    #[error("the address or the password is not right")]
    BadCredentials,
    #[error("the link is not valid: it was used, it expired, or it was never made")]
    BadLink,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] facteur_store::Error),
}

/// Hashes a password with argon2id (a random salt, the crate's default cost), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, PeopleError> {
    check_password(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PeopleError::Invalid(format!("cannot hash the password: {e}")))
}

/// Whether `password` is the one `hash` was made from.
pub fn verify_password(hash: &str, password: &str) -> bool {
    password.len() <= PASSWORD_MAX
        && PasswordHash::new(hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
}

fn check_password(password: &str) -> Result<(), PeopleError> {
    let n = password.chars().count();
    if n < PASSWORD_MIN || password.len() > PASSWORD_MAX {
        return Err(PeopleError::Invalid(format!(
            "a password has {PASSWORD_MIN} to {PASSWORD_MAX} characters"
        )));
    }
    Ok(())
}

/// A secret for a cookie or a link: 256 random bits, in hex.
pub fn new_secret() -> String {
    format!(
        "{}{}",
        crate::senders::new_token(),
        crate::senders::new_token()
    )
}

/// An open session: the cookie's token (shown once) and the session it opened.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub user: User,
    pub session: Session,
}

/// A hash verified against when no one has the address, so that a wrong address takes as
/// long as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"no one has this password")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

impl Core {
    /// Signs a person in: a session of [`SESSION_MS`]. A disabled person, a wrong address
    /// and a wrong password are the same refusal.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        ip: &str,
        agent: &str,
        now: i64,
    ) -> Result<SignedIn, PeopleError> {
        let user = self.store.user_by_email(email).await?;
        let (hash, user) = match user {
            Some(u) if u.disabled_at.is_none() => (u.password_hash.clone(), Some(u)),
            _ => (DUMMY_HASH.clone(), None),
        };
        let ok = verify_blocking(hash, password).await;
        let Some(user) = user.filter(|_| ok) else {
            return Err(PeopleError::BadCredentials);
        };
        self.open_session(user, ip, agent, now).await
    }

    /// Makes a one-time link valid `ttl_ms`; its token (the only copy: the store keeps a hash).
    async fn new_link(
        &self,
        kind: LinkKind,
        email: String,
        user_id: Option<i64>,
        grants: Option<(i64, Role)>,
        ttl_ms: i64,
        now: i64,
    ) -> Result<String, PeopleError> {
        let token = new_secret();
        let link = Link {
            kind,
            email,
            user_id,
            account_id: grants.map(|g| g.0),
            role: grants.map(|g| g.1),
            created_at: now,
            expires_at: now + ttl_ms,
        };
        self.store.create_link(&token, &link).await?;
        Ok(token)
    }

    async fn open_session(
        &self,
        user: User,
        ip: &str,
        agent: &str,
        now: i64,
    ) -> Result<SignedIn, PeopleError> {
        let token = new_secret();
        let csrf = new_secret();
        let expires_at = now + SESSION_MS;
        self.store
            .create_session(user.id, &token, &csrf, now, expires_at, ip, agent)
            .await?;
        Ok(SignedIn {
            token,
            session: Session {
                user_id: user.id,
                csrf,
                created_at: now,
                expires_at,
            },
            user,
        })
    }

    /// The first start's owner link: a token when no one can sign in yet (a new one each
    /// call, each valid [`OWNER_LINK_MS`]); `None` once someone can.
    pub async fn owner_link(&self, now: i64) -> Result<Option<String>, PeopleError> {
        if self.store.users_count().await? > 0 {
            return Ok(None);
        }
        let link = self
            .new_link(
                LinkKind::Owner,
                String::new(),
                None,
                None,
                OWNER_LINK_MS,
                now,
            )
            .await?;
        Ok(Some(link))
    }

    /// Creates the owner with the first start's link: Owner of every account there is, and
    /// signed in.
    pub async fn create_owner(
        &self,
        token: &str,
        email: &str,
        name: &str,
        password: &str,
        now: i64,
    ) -> Result<SignedIn, PeopleError> {
        let hash = hash_blocking(password).await?;
        if self.store.users_count().await? > 0
            || self
                .store
                .use_link(token, LinkKind::Owner, now)
                .await?
                .is_none()
        {
            return Err(PeopleError::BadLink);
        }
        let user = self.store.create_user(email, name, &hash, now).await?;
        for account in self.store.list_accounts().await? {
            self.store.grant(user.id, account.id, Role::Owner).await?;
        }
        self.open_session(user, "", "", now).await
    }

    /// An invitation to `account_id` with `role` for `email`: the link's token (to mail).
    pub async fn invite(
        &self,
        account_id: i64,
        email: &str,
        role: Role,
        now: i64,
    ) -> Result<String, PeopleError> {
        let email = facteur_store::people::normalize_email(email)?;
        self.new_link(
            LinkKind::Invitation,
            email,
            None,
            Some((account_id, role)),
            INVITATION_MS,
            now,
        )
        .await
    }

    /// Accepts an invitation: the invited person is created (or, if they have an account
    /// already, found: their password must be right), given the role, and signed in.
    pub async fn accept_invitation(
        &self,
        token: &str,
        name: &str,
        password: &str,
        now: i64,
    ) -> Result<SignedIn, PeopleError> {
        check_password(password)?;
        let Some(link) = self
            .store
            .use_link(token, LinkKind::Invitation, now)
            .await?
        else {
            return Err(PeopleError::BadLink);
        };
        let (Some(account), Some(role)) = (link.account_id, link.role) else {
            return Err(PeopleError::BadLink);
        };
        let user = match self.store.user_by_email(&link.email).await? {
            Some(u) if verify_blocking(u.password_hash.clone(), password).await => u,
            Some(_) => return Err(PeopleError::BadCredentials),
            None => {
                let hash = hash_blocking(password).await?;
                self.store
                    .create_user(&link.email, name, &hash, now)
                    .await?
            }
        };
        self.store.grant(user.id, account, role).await?;
        self.open_session(user, "", "", now).await
    }

    /// A password reset link for `email`, when someone has it (`None` otherwise: the caller
    /// answers the same either way, so addresses cannot be probed).
    pub async fn reset_link(&self, email: &str, now: i64) -> Result<Option<String>, PeopleError> {
        let Some(user) = self.store.user_by_email(email).await? else {
            return Ok(None);
        };
        let link = self
            .new_link(
                LinkKind::PasswordReset,
                user.email.clone(),
                Some(user.id),
                None,
                RESET_MS,
                now,
            )
            .await?;
        Ok(Some(link))
    }

    /// Sets a new password with a reset link; every session of the person ends.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
        now: i64,
    ) -> Result<User, PeopleError> {
        let hash = hash_blocking(password).await?;
        let Some(user_id) = self
            .store
            .use_link(token, LinkKind::PasswordReset, now)
            .await?
            .and_then(|l| l.user_id)
        else {
            return Err(PeopleError::BadLink);
        };
        self.store.set_password(user_id, &hash).await?;
        Ok(self.store.user(user_id).await?)
    }
}

/// What a people mail is about: the link it carries and its words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeopleMail<'a> {
    /// An invitation to an account (its name) with a role (its name).
    Invitation {
        account: &'a str,
        role: &'a str,
        by: &'a str,
    },
    PasswordReset,
}

impl Core {
    /// Mails a one-time link through Facteur itself (the accept pipeline, as a notice from
    /// `no-reply@` the server's hostname): an invitation or a password reset.
    pub async fn mail_link(
        &self,
        to: &str,
        link: &str,
        what: PeopleMail<'_>,
    ) -> Result<(), SubmitError> {
        let host = &self.cfg.hostname;
        let (subject, text) = match what {
            PeopleMail::Invitation { account, role, by } => (
                format!("{by} invites you to {account} on Facteur"),
                format!(
                    "{by} invites you to the account \"{account}\" on {host}, as {role}.\r\n\r\nOpen this link within 7 days to accept (you will choose a password, or use yours if you have one):\r\n\r\n{link}\r\n\r\nIf you did not expect this, ignore this message.\r\n"
                ),
            ),
            PeopleMail::PasswordReset => (
                "Reset your Facteur password".to_string(),
                format!(
                    "Someone asked to reset the password of {to} on {host}.\r\n\r\nIf it was you, choose a new password within an hour with this link (every session of yours will be signed out):\r\n\r\n{link}\r\n\r\nIf it was not, ignore this message: your password stays as it is.\r\n"
                ),
            ),
        };
        self.mail_notice(to, subject, text).await
    }

    /// Mails a text notice from `no-reply@` the server's hostname ("Facteur") through the
    /// accept pipeline: confirmation links, invitations, password resets.
    pub async fn mail_notice(
        &self,
        to: &str,
        subject: String,
        text: String,
    ) -> Result<(), SubmitError> {
        let draft = Draft {
            from: Some(Mailbox {
                email: format!("no-reply@{}", self.cfg.hostname),
                name: "Facteur".into(),
            }),
            to: vec![Mailbox {
                email: to.to_string(),
                name: String::new(),
            }],
            subject: Some(subject),
            text: Some(text),
            ..Draft::default()
        };
        Box::pin(self.submit(Submission::notice(Content::Draft(Box::new(draft)))))
            .await
            .map(|_| ())
    }
}

/// [`verify_password`] on the blocking pool (argon2 takes tens of milliseconds).
async fn verify_blocking(hash: String, password: &str) -> bool {
    let password = password.to_string();
    crate::render::blocking(move || verify_password(&hash, &password))
        .await
        .unwrap_or(false)
}

/// [`hash_password`] on the blocking pool (argon2 takes tens of milliseconds).
async fn hash_blocking(password: &str) -> Result<String, PeopleError> {
    let password = password.to_string();
    crate::render::blocking(move || hash_password(&password))
        .await
        .map_err(PeopleError::Invalid)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        // Two hashes of one password differ (a salt each).
        assert_ne!(h, hash_password("correct horse battery").unwrap());
        assert!(hash_password("short").is_err());
        assert!(hash_password(&"x".repeat(PASSWORD_MAX + 1)).is_err());
        assert_eq!(new_secret().len(), 64);
    }
}
