//! Sender validation: an account that enforces it may send only from its active senders (an
//! address, or a catch-all `*@domain`) or from a domain of its own whose records were found
//! in DNS. Addresses are validated by a confirmation link Facteur sends through itself;
//! catch-alls by their domain's DNS check. Which accounts enforce it and their active senders
//! are held in memory ([`SenderCheck`]), reloaded every minute and after every change on this
//! node, so `submit` reads no table for it.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use facteur_store::senders::{NewSender, Sender, SenderRules, SenderStatus};
use ring::rand::{SecureRandom, SystemRandom};

use crate::core::Core;
use crate::submission::Origin;

/// The rules `submit` checks, by account.
#[derive(Default)]
pub struct SenderCheck {
    inner: RwLock<Rules>,
    /// When each sender was last sent a confirmation link: at most one each 10 minutes, so
    /// `validate` cannot be used to mail an address again and again.
    mailed: std::sync::Mutex<HashMap<i64, i64>>,
}

const MAIL_AGAIN_AFTER_MS: i64 = 10 * 60_000;

#[derive(Default)]
struct Rules {
    /// The accounts that do not enforce it: any other, even one this node has not seen yet
    /// (made a moment ago on another node), is checked.
    exempt: HashSet<i64>,
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
            exempt: rules.exempt.into_iter().collect(),
            allowed,
        };
    }

    /// Whether `account` may send from `address`: it does not enforce the check, or the address
    /// (or its domain's catch-all, or a parent domain's) is active.
    pub fn allows(&self, account: i64, address: &str) -> bool {
        let rules = self.inner.read().expect("sender rules lock");
        if rules.exempt.contains(&account) {
            return true;
        }
        let Some(allowed) = rules.allowed.get(&account) else {
            return false;
        };
        let address = address.trim().to_ascii_lowercase();
        if allowed.contains(&address) {
            return true;
        }
        let Some((_, domain)) = address.rsplit_once('@') else {
            return false;
        };
        domain_and_parents(domain)
            .into_iter()
            .any(|d| allowed.contains(&format!("*@{d}")))
    }

    /// Whether a confirmation link may be sent to this sender now (and notes that it is).
    pub fn may_mail(&self, sender_id: i64, now: i64) -> bool {
        let mut mailed = self.mailed.lock().expect("sender mail lock");
        mailed.retain(|_, at| now - *at < MAIL_AGAIN_AFTER_MS);
        if mailed.contains_key(&sender_id) {
            return false;
        }
        mailed.insert(sender_id, now);
        true
    }

    pub fn enforces(&self, account: i64) -> bool {
        !self
            .inner
            .read()
            .expect("sender rules lock")
            .exempt
            .contains(&account)
    }
}

/// A domain and its parents that are still domains (`a.b.example.com`, `b.example.com`,
/// `example.com`): a catch-all or a verified domain covers its subdomains.
pub fn domain_and_parents(domain: &str) -> Vec<&str> {
    let mut out = vec![domain];
    let mut d = domain;
    while let Some((_, parent)) = d.split_once('.') {
        if !parent.contains('.') {
            break;
        }
        out.push(parent);
        d = parent;
    }
    out
}

/// A confirmation token: 32 random hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system random numbers");
    let mut out = String::with_capacity(32);
    crate::verp::hex(&bytes, &mut out);
    out
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
        let covering = domain_and_parents(&domain);
        let verified = self
            .store
            .verified_domains()
            .await?
            .into_iter()
            .any(|(a, d)| a == sender.account_id && covering.contains(&d.as_str()));
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
        let mut covered = verified;
        for d in &covering {
            if covered {
                break;
            }
            covered = self
                .store
                .sender_by_email(sender.account_id, &format!("*@{d}"))
                .await?
                .is_some_and(|c| c.status == SenderStatus::Active);
        }
        if covered {
            self.store.activate_sender(sender.id, "Domain", now).await?;
            self.reload_senders().await?;
            return Ok(Validation::Activated("Domain"));
        }
        if !self.senders.may_mail(sender.id, now) {
            return Ok(Validation::Failed(format!(
                "a confirmation link was sent to {} less than 10 minutes ago: open it, or ask again later",
                sender.email
            )));
        }
        let link = format!("{}/sender/confirm/{}", self.public_url, sender.token);
        let text = format!(
            "Someone asked to send e-mail from {address} through {host}.\r\n\r\nIf it was you, confirm that this address is yours by opening this link:\r\n\r\n{link}\r\n\r\nIf it was not, ignore this message: nothing will be sent from your address.\r\n",
            address = sender.email,
            host = self.cfg.hostname,
        );
        let subject = format!("Confirm {} as a sender", sender.email);
        match self.mail_notice(&sender.email, subject, text).await {
            Ok(_) => Ok(Validation::EmailSent),
            Err(crate::submission::SubmitError::Unavailable(e)) => Err(e),
            Err(e) => Ok(Validation::Failed(format!(
                "the confirmation message could not be sent: {e}"
            ))),
        }
    }

    /// The sender a confirmation link names (`None`: no such link, or its sender deleted).
    pub async fn sender_by_token(
        &self,
        token: &str,
    ) -> Result<Option<Sender>, facteur_store::Error> {
        if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        Ok(self
            .store
            .sender_by_token(token)
            .await?
            .filter(|s| s.status != SenderStatus::Deleted))
    }

    /// Opens a confirmation link: the sender it names becomes active. `None`: no such link.
    pub async fn confirm_sender(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<Sender>, facteur_store::Error> {
        let Some(sender) = self.sender_by_token(token).await? else {
            return Ok(None);
        };
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

/// Whether a submission's From addresses (every one; none readable is refused) and Sender may
/// be used by its account; the addresses that may not, as problems.
pub fn sender_problems(
    check: &SenderCheck,
    account_id: Option<i64>,
    origin: &Origin,
    from: &[String],
    sender: &[String],
) -> Vec<crate::submission::Problem> {
    use crate::submission::Problem;
    let Some(account) = account_id else {
        return Vec::new();
    };
    if !origin.is_user_content() || !check.enforces(account) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    if from.is_empty() {
        problems.push(Problem::FromNotValidated(
            "(no readable From address, or more than one From field)".into(),
        ));
    }
    for a in from.iter().filter(|a| !check.allows(account, a)) {
        problems.push(Problem::FromNotValidated(a.clone()));
    }
    for a in sender.iter().filter(|a| !check.allows(account, a)) {
        problems.push(Problem::SenderNotValidated(a.clone()));
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
                exempt: vec![3],
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
        // Exempt: anything goes; an account not seen yet is checked.
        assert!(check.allows(3, "anyone@anywhere.test"));
        assert!(!check.allows(4, "anyone@anywhere.test"));
        assert!(!check.allows(1, "not an address"));
        assert_eq!(
            domain_and_parents("a.b.example.com"),
            ["a.b.example.com", "b.example.com", "example.com"]
        );
        assert_eq!(domain_and_parents("example.com"), ["example.com"]);
    }
}
