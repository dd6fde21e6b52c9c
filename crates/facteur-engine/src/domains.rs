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
        taken: &[String],
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
                // Keys made within the same second as one the domain has (a rotation right
                // after adding it) get a letter more.
                let base = new_selector(now, a);
                let selector = std::iter::once(base.clone())
                    .chain(('b'..='z').map(|c| format!("{base}{c}")))
                    .find(|s| !taken.contains(s))
                    .unwrap_or(base);
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
        let keys = self
            .new_keys(&name, set, KeyState::Active, now, &[])
            .await?;
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
        let taken: Vec<String> = d.keys.iter().map(|k| k.selector.clone()).collect();
        let keys = self
            .new_keys(&d.name, set, KeyState::Pending, now, &taken)
            .await?;
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
        if let Some(bounce) = &self.cfg.bounce_domain {
            out.push(Record {
                kind: "MX",
                name: bounce.clone(),
                value: format!("10 {}.", self.cfg.hostname),
                purpose: "Return path: bounces and complaints come back to this server (once for all domains)".into(),
            });
            out.push(Record {
                kind: "TXT",
                name: bounce.clone(),
                value: self.spf_value(),
                purpose: "SPF of the return path: receivers check the envelope sender's domain"
                    .into(),
            });
        }
        out.push(Record {
            kind: "TXT",
            name: format!("_dmarc.{}", d.name),
            value: format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{}", d.name),
            purpose: "DMARC: start with p=none, move to quarantine once reports are clean".into(),
        });
        out
    }

    /// Looks the domain's records up in DNS and records the result: each record's status and
    /// current value; the domain is verified once the DKIM record of an active key is found
    /// (its addresses may then send where senders are enforced). Returns the domain as
    /// stored after the check, and the check as the API shows it.
    pub async fn check_domain(
        &self,
        account_id: i64,
        domain_id: i64,
        now: i64,
    ) -> Result<(Domain, serde_json::Value), facteur_store::Error> {
        use crate::dnscheck::{self, Dns};
        use hickory_resolver::proto::rr::RecordType;
        let d = self.store.domain(account_id, domain_id).await?;
        let dns = Dns::new(self.cfg.dns_resolver).map_err(facteur_store::Error::Unavailable)?;
        let mut dkim_checks = Vec::new();
        for k in d.keys.iter().filter(|k| k.state != KeyState::Retired) {
            let Some(a) = Algorithm::parse(&k.algorithm) else {
                continue;
            };
            let name = format!("{}._domainkey.{}", k.selector, d.name);
            let answer = dns.lookup(&name, RecordType::TXT).await;
            let purpose = format!("DKIM ({}, {})", k.algorithm, k.state.as_str());
            dkim_checks.push((
                k.state,
                dnscheck::dkim(
                    &name,
                    &dkim::record_value(a, &k.public_key),
                    &purpose,
                    &answer,
                ),
            ));
        }
        let spf_answer = dns.lookup(&d.name, RecordType::TXT).await;
        let spf = dnscheck::spf(&d.name, &self.spf_value(), &spf_answer, |name| {
            let dns = &dns;
            async move { dns.lookup(&name, RecordType::TXT).await }
        })
        .await;
        let dmarc_name = format!("_dmarc.{}", d.name);
        let dmarc = dnscheck::dmarc(
            &dmarc_name,
            &format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{}", d.name),
            &dns.lookup(&dmarc_name, RecordType::TXT).await,
        );
        // The return path: its MX brings bounces back, its SPF is what receivers check
        // against the envelope sender.
        let return_path = match &self.cfg.bounce_domain {
            Some(b) => {
                let mx = dnscheck::return_path(
                    b,
                    &self.cfg.hostname,
                    &dns.lookup(b, RecordType::MX).await,
                );
                let answer = dns.lookup(b, RecordType::TXT).await;
                let mut spf = dnscheck::spf(b, &self.spf_value(), &answer, |name| {
                    let dns = &dns;
                    async move { dns.lookup(&name, RecordType::TXT).await }
                })
                .await;
                spf.purpose =
                    "SPF of the return path: receivers check the envelope sender's domain".into();
                Some((mx, spf))
            }
            None => None,
        };
        let active: Vec<&dnscheck::RecordCheck> = dkim_checks
            .iter()
            .filter(|(state, _)| *state == KeyState::Active)
            .map(|(_, c)| c)
            .collect();
        let verified = active.iter().any(|c| c.ok());
        let dkim_status = if active.is_empty() {
            "Not found"
        } else if active.iter().all(|c| c.ok()) {
            "OK"
        } else if active.iter().all(|c| c.status == "Not found") {
            "Not found"
        } else {
            "Error"
        };
        let mut records: Vec<serde_json::Value> =
            dkim_checks.iter().map(|(_, c)| c.to_json()).collect();
        records.push(spf.to_json());
        records.push(dmarc.to_json());
        if let Some((mx, spf)) = &return_path {
            records.push(mx.to_json());
            records.push(spf.to_json());
        }
        let return_path_status = match &return_path {
            None => "Not used",
            Some((mx, spf)) if mx.ok() && spf.ok() => "OK",
            Some((mx, spf)) if mx.status == "Not found" && spf.status == "Not found" => "Not found",
            Some(_) => "Error",
        };
        let result = serde_json::json!({
            "DKIMStatus": dkim_status,
            "DKIMErrors": active.iter().flat_map(|c| c.errors.clone()).collect::<Vec<_>>(),
            "DKIMRecordCurrentValue": active.first().and_then(|c| c.current.first().cloned()).unwrap_or_default(),
            "SPFStatus": spf.status,
            "SPFErrors": spf.errors,
            "SPFRecordsCurrentValues": spf.current,
            "DMARCStatus": dmarc.status,
            "ReturnPathStatus": return_path_status,
            "Verified": verified,
            "Records": records,
        });
        self.store
            .record_domain_check(d.id, &result.to_string(), verified, now)
            .await?;
        if verified {
            self.reload_senders().await?;
        }
        let d = self.store.domain(account_id, domain_id).await?;
        Ok((d, result))
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
