//! Sending domains and their DKIM keys, as the API and the CLI manage them: adding a domain
//! (keys generated and sealed), the DNS records to publish, rotation (new keys pending beside
//! the active ones, then switched), removal. The signing itself is [`crate::identity`].

use std::sync::Arc;

use facteur_message::dkim::{self, Algorithm, Signer};
use facteur_store::identity::{Domain, KeyState, NewKey};

use crate::core::Core;
use crate::identity::{KeySet, Record, SignerMap, context};

/// A new selector: `f` and the time to the second, with the algorithm's letter.
fn new_selector(now_ms: i64, algorithm: Algorithm) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let letter = match algorithm {
        Algorithm::Rsa => 'r',
        Algorithm::Ed25519 => 'e',
    };
    format!(
        "f{:04}{:02}{:02}{:02}{:02}{:02}{letter}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl Core {
    /// Loads every active key (at start, after a change, and every minute). Returns how many
    /// keys there are and how many could not be opened.
    pub async fn reload_dkim_keys(&self) -> Result<(usize, usize), facteur_store::Error> {
        let mut map = SignerMap::new();
        let keys = self.store.active_keys().await?;
        let (total, mut failed) = (keys.len(), 0);
        for (account, domain, key) in keys {
            let Some(algorithm) = Algorithm::parse(&key.algorithm) else {
                continue;
            };
            let signer = self
                .sealer
                .open(&context(&domain, &key.selector), &key.sealed_private_key)
                .and_then(|der| Signer::new(&domain, &key.selector, algorithm, &der));
            match signer {
                Ok(s) => map
                    .entry(domain)
                    .or_insert_with(|| (account, Vec::new()))
                    .1
                    .push(Arc::new(s)),
                Err(e) => {
                    failed += 1;
                    tracing::error!(domain = %domain, selector = %key.selector, error = %e, "DKIM key not loaded: mail from this domain goes unsigned")
                }
            }
        }
        self.dkim.replace(map);
        Ok((total, failed))
    }

    /// New keys for a domain, sealed: generated on the blocking pool (RSA takes a moment).
    async fn new_keys(
        &self,
        domain: &str,
        set: KeySet,
        state: KeyState,
        now: i64,
    ) -> Result<Vec<NewKey>, facteur_store::Error> {
        let bits = self.cfg.dkim_rsa_bits;
        let algorithms = set.algorithms();
        let pairs = tokio::task::spawn_blocking(move || {
            algorithms
                .iter()
                .map(|a| dkim::generate(*a, bits).map(|p| (*a, p)))
                .collect::<Result<Vec<_>, String>>()
        })
        .await
        .map_err(|e| facteur_store::Error::Unavailable(e.to_string()))?
        .map_err(facteur_store::Error::Unavailable)?;
        Ok(pairs
            .into_iter()
            .map(|(a, p)| {
                let selector = new_selector(now, a);
                NewKey {
                    sealed_private_key: self
                        .sealer
                        .seal(&context(domain, &selector), &p.private_der),
                    selector,
                    algorithm: a.as_str().into(),
                    public_key: p.public,
                    state,
                }
            })
            .collect())
    }

    /// Adds a sending domain with its keys, signing from now on.
    pub async fn add_domain(
        &self,
        account_id: i64,
        name: &str,
        set: KeySet,
        now: i64,
    ) -> Result<Domain, facteur_store::Error> {
        let name = facteur_store::identity::normalize_domain(name)?;
        let keys = self.new_keys(&name, set, KeyState::Active, now).await?;
        let d = self
            .store
            .create_domain(account_id, &name, keys, now)
            .await?;
        self.reload_dkim_keys().await?;
        Ok(d)
    }

    /// Rotation, first step: new keys under a new selector, `pending` beside the active ones
    /// (publish their records, then [`Core::activate_keys`]).
    pub async fn rotate_domain(
        &self,
        account_id: i64,
        domain_id: i64,
        set: KeySet,
        now: i64,
    ) -> Result<Domain, facteur_store::Error> {
        let d = self.store.domain(account_id, domain_id).await?;
        if d.keys.iter().any(|k| k.state == KeyState::Pending) {
            return Err(facteur_store::Error::Conflict(format!(
                "{} already has new keys waiting to be published and activated",
                d.name
            )));
        }
        let keys = self.new_keys(&d.name, set, KeyState::Pending, now).await?;
        self.store.add_keys(account_id, domain_id, keys, now).await
    }

    /// Rotation, second step: the pending keys sign, the active ones retire.
    pub async fn activate_keys(
        &self,
        account_id: i64,
        domain_id: i64,
    ) -> Result<Domain, facteur_store::Error> {
        let d = self.store.domain(account_id, domain_id).await?;
        if !d.keys.iter().any(|k| k.state == KeyState::Pending) {
            return Err(facteur_store::Error::Invalid(format!(
                "{} has no new keys to activate: rotate first",
                d.name
            )));
        }
        let changes: Vec<(i64, KeyState)> = d
            .keys
            .iter()
            .filter_map(|k| match k.state {
                KeyState::Pending => Some((k.id, KeyState::Active)),
                KeyState::Active => Some((k.id, KeyState::Retired)),
                KeyState::Retired => None,
            })
            .collect();
        let d = self
            .store
            .set_key_states(account_id, domain_id, &changes)
            .await?;
        self.reload_dkim_keys().await?;
        Ok(d)
    }

    pub async fn remove_domain(
        &self,
        account_id: i64,
        domain_id: i64,
    ) -> Result<(), facteur_store::Error> {
        self.store.delete_domain(account_id, domain_id).await?;
        self.reload_dkim_keys().await.map(|_| ())
    }

    /// The records to publish for a domain: each live DKIM key, SPF, a DMARC policy to start
    /// with.
    pub fn records(&self, d: &Domain) -> Vec<Record> {
        let mut out: Vec<Record> = d
            .keys
            .iter()
            .filter(|k| k.state != KeyState::Retired)
            .filter_map(|k| {
                let a = Algorithm::parse(&k.algorithm)?;
                Some(Record {
                    kind: "TXT",
                    name: format!("{}._domainkey.{}", k.selector, d.name),
                    value: dkim::record_value(a, &k.public_key),
                    purpose: format!("DKIM ({}, {})", k.algorithm, k.state.as_str()),
                })
            })
            .collect();
        out.push(Record {
            kind: "TXT",
            name: d.name.clone(),
            value: self.spf_value(),
            purpose: "SPF: the hosts that send this domain's mail".into(),
        });
        out.push(Record {
            kind: "TXT",
            name: format!("_dmarc.{}", d.name),
            value: format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{}", d.name),
            purpose: "DMARC: start with p=none, move to quarantine once reports are clean".into(),
        });
        out
    }

    /// The SPF record a sending domain publishes.
    pub fn spf_value(&self) -> String {
        match &self.cfg.spf_include {
            Some(include) => format!("v=spf1 include:{include} ~all"),
            None => format!("v=spf1 a:{} ~all", self.cfg.hostname),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_time_and_algorithm() {
        assert_eq!(
            new_selector(1_764_675_000_000, Algorithm::Rsa),
            "f20251202113000r"
        );
        assert_eq!(
            new_selector(1_764_675_000_000, Algorithm::Ed25519),
            "f20251202113000e"
        );
    }
}
