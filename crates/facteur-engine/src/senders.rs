//! Sender validation: an account that enforces it may send only from its active senders (an
//! address, or a catch-all `*@domain`) or from a domain of its own whose records were found
//! in DNS. Addresses are validated by a confirmation link Facteur sends through itself;
//! catch-alls by their domain's DNS check. Which accounts enforce it and their active senders
//! are held in memory ([`SenderCheck`]), reloaded every minute and after every change on this
//! node, so `submit` reads no table for it.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use facteur_message::compose::Mailbox;
use facteur_store::senders::{NewSender, Sender, SenderRules, SenderStatus};
use ring::rand::{SecureRandom, SystemRandom};

use crate::core::Core;
use crate::submission::{Content, Draft, Origin, Submission};

/// The rules `submit` checks, by account.
#[derive(Default)]
pub struct SenderCheck {
    inner: RwLock<Rules>,
}

#[derive(Default)]
struct Rules {
    enforcing: HashSet<i64>,
    /// Lower-case addresses and `*@domain` catch-alls, by account.
    allowed: HashMap<i64, HashSet<String>>,
}

impl SenderCheck {
    pub fn replace(&self, rules: SenderRules, verified_domains: Vec<(i64, String)>) {
        let mut allowed: HashMap<i64, HashSet<String>> = HashMap::new();
        for (account, email) in rules.active {
            allowed.entry(account).or_default().insert(email);
        }
        for (account, domain) in verified_domains {
            allowed
                .entry(account)
                .or_default()
                .insert(format!("*@{domain}"));
        }
        *self.inner.write().expect("sender rules lock") = Rules {
            enforcing: rules.enforcing.into_iter().collect(),
            allowed,
        };
    }

    /// Whether `account` may send from `address`: it does not enforce the check, or the address
    /// (or its domain's catch-all, or a parent domain's) is active.
    pub fn allows(&self, account: i64, address: &str) -> bool {
        let rules = self.inner.read().expect("sender rules lock");
        if !rules.enforcing.contains(&account) {
            return true;
        }
        let Some(allowed) = rules.allowed.get(&account) else {
            return false;
        };
        let address = address.trim().to_ascii_lowercase();
        if allowed.contains(&address) {
            return true;
        }
        let Some((_, mut domain)) = address.rsplit_once('@') else {
            return false;
        };
        loop {
            if allowed.contains(&format!("*@{domain}")) {
                return true;
            }
            match domain.split_once('.') {
                Some((_, parent)) if parent.contains('.') => domain = parent,
                _ => return false,
            }
        }
    }

    pub fn enforces(&self, account: i64) -> bool {
        self.inner
            .read()
            .expect("sender rules lock")
            .enforcing
            .contains(&account)
    }
}

/// A confirmation token: 32 random hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system random numbers");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `POST /sender/{id}/validate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// A confirmation link was sent to the address.
    EmailSent,
    /// The sender is active now (its domain's records were found).
    Activated(&'static str),
    /// Not validated: why, for the API's `Errors`.
    Failed(String),
}

impl Core {
    /// Loads the sender rules (at start, after a change here, and every minute).
    pub async fn reload_senders(&self) -> Result<(), facteur_store::Error> {
        let rules = self.store.sender_rules().await?;
        let verified = self.store.verified_domains().await?;
        self.senders.replace(rules, verified);
        Ok(())
    }

    /// Adds a sender (inactive until validated).
    pub async fn add_sender(
        &self,
        account_id: i64,
        email: &str,
        name: &str,
        email_type: &str,
        is_default: bool,
        now: i64,
    ) -> Result<Sender, facteur_store::Error> {
        let token = new_token();
        let new = NewSender {
            account_id,
            email,
            name,
            email_type,
            is_default,
            token: &token,
        };
        let sender = self.store.create_sender(&new, now).await?;
        self.reload_senders().await?;
        Ok(sender)
    }

    /// Validates a sender: a catch-all by its domain's DNS check (the account's domain, checked
    /// with `POST /v3/REST/dns/{id}/check`); an address covered by an active catch-all or a
    /// verified domain at once, any other by a confirmation link sent to it through Facteur.
    pub async fn validate_sender(
        &self,
        sender: &Sender,
        now: i64,
    ) -> Result<Validation, facteur_store::Error> {
        let domain = sender.domain().to_string();
        let verified = self
            .store
            .verified_domains()
            .await?
            .into_iter()
            .any(|(a, d)| {
                a == sender.account_id && (domain == d || domain.ends_with(&format!(".{d}")))
            });
        if sender.is_catch_all() {
            if !verified {
                return Ok(Validation::Failed(format!(
                    "the domain {domain} has not passed its DNS check: add it with POST /v3/REST/dns, publish its records, then POST /v3/REST/dns/{{id}}/check"
                )));
            }
            self.store.activate_sender(sender.id, "DNS", now).await?;
            self.reload_senders().await?;
            return Ok(Validation::Activated("DNS"));
        }
        let covered = verified
            || self
                .store
                .sender_by_email(sender.account_id, &format!("*@{domain}"))
                .await?
                .is_some_and(|c| c.status == SenderStatus::Active);
        if covered {
            self.store.activate_sender(sender.id, "Domain", now).await?;
            self.reload_senders().await?;
            return Ok(Validation::Activated("Domain"));
        }
        let link = format!("{}/sender/confirm/{}", self.public_url, sender.token);
        let text = format!(
            "Someone asked to send e-mail from {address} through {host}.\r\n\r\nIf it was you, confirm that this address is yours by opening this link:\r\n\r\n{link}\r\n\r\nIf it was not, ignore this message: nothing will be sent from your address.\r\n",
            address = sender.email,
            host = self.cfg.hostname,
        );
        let from = Mailbox {
            email: format!("no-reply@{}", self.cfg.hostname),
            name: "Facteur".into(),
        };
        let draft = Draft {
            from: Some(from),
            to: vec![Mailbox {
                email: sender.email.clone(),
                name: String::new(),
            }],
            subject: Some(format!("Confirm {} as a sender", sender.email)),
            text: Some(text),
            ..Draft::default()
        };
        let submission = Submission::notice(Content::Draft(Box::new(draft)));
        match Box::pin(self.submit(submission)).await {
            Ok(_) => Ok(Validation::EmailSent),
            Err(crate::submission::SubmitError::Unavailable(e)) => Err(e),
            Err(e) => Ok(Validation::Failed(format!(
                "the confirmation message could not be sent: {e}"
            ))),
        }
    }

    /// Opens a confirmation link: the sender it names becomes active. `None`: no such link.
    pub async fn confirm_sender(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<Sender>, facteur_store::Error> {
        if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(sender) = self.store.sender_by_token(token).await? else {
            return Ok(None);
        };
        if sender.status == SenderStatus::Deleted {
            return Ok(None);
        }
        if sender.status != SenderStatus::Active {
            self.store
                .activate_sender(sender.id, "ActivationEmail", now)
                .await?;
            self.reload_senders().await?;
        }
        self.store
            .sender(sender.account_id, sender.id)
            .await
            .map(Some)
    }
}

/// Whether a submission's From (and Sender) may be used by its account; the addresses that
/// may not, as problems.
pub fn sender_problems(
    check: &SenderCheck,
    account_id: Option<i64>,
    origin: &Origin,
    from: Option<&str>,
    sender: Option<&str>,
) -> Vec<crate::submission::Problem> {
    use crate::submission::Problem;
    let Some(account) = account_id else {
        return Vec::new();
    };
    if !origin.is_user_content() || !check.enforces(account) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    if let Some(from) = from
        && !check.allows(account, from)
    {
        problems.push(Problem::FromNotValidated(from.to_string()));
    }
    if let Some(sender) = sender
        && !check.allows(account, sender)
    {
        problems.push(Problem::SenderNotValidated(sender.to_string()));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_catch_alls_and_parent_domains() {
        let check = SenderCheck::default();
        check.replace(
            SenderRules {
                enforcing: vec![1, 2],
                active: vec![(1, "news@example.com".into()), (1, "*@shop.test".into())],
            },
            vec![(2, "brand.test".into())],
        );
        assert!(check.allows(1, "News@Example.com"));
        assert!(!check.allows(1, "other@example.com"));
        assert!(check.allows(1, "a@shop.test"));
        assert!(check.allows(1, "a@eu.shop.test"));
        assert!(!check.allows(1, "a@test"));
        assert!(check.allows(2, "x@mail.brand.test"));
        assert!(!check.allows(2, "news@example.com"));
        // Not enforcing: anything goes.
        assert!(check.allows(3, "anyone@anywhere.test"));
        assert!(!check.allows(1, "not an address"));
    }
}
