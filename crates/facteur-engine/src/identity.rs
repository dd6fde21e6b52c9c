//! Sender identity, the parts every stage shares: the secret that seals DKIM private keys at
//! rest, and the signing hook that DKIM-signs every outgoing message whose From domain (or a
//! parent of it) has an active key of the sending account. Managing domains and keys is
//! [`crate::domains`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use facteur_message::dkim::{self, Algorithm, Signer};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::hooks::{Outgoing, Rewrite};
use crate::submission::Problem;

/// Seals and opens secrets kept in the database (DKIM private keys) with a key the database
/// does not hold: `secret_key` in the configuration (every node of a cluster needs the same),
/// else `DATA/secret.key`, made on first start.
pub struct Sealer {
    key: LessSafeKey,
    /// Root of the keys that sign tokens ([`Sealer::mac_key`]).
    mac_root: ring::hmac::Key,
    rng: SystemRandom,
}

impl Sealer {
    /// From a base64 key of 32 bytes, or the data directory's file (created if missing).
    pub fn load(configured: Option<&str>, data_dir: &Path) -> Result<Sealer, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let bytes = match configured {
            Some(k) => b64.decode(k.trim()).map_err(|_| {
                "secret_key must be 32 bytes in base64 (make one with `openssl rand -base64 32`)"
                    .to_string()
            })?,
            None => {
                let path = data_dir.join("secret.key");
                match std::fs::read_to_string(&path) {
                    Ok(text) => b64.decode(text.trim()).map_err(|_| {
                        format!(
                            "{} is damaged: it must hold 32 bytes in base64",
                            path.display()
                        )
                    })?,
                    Err(_) => {
                        let mut key = [0u8; 32];
                        SystemRandom::new()
                            .fill(&mut key)
                            .map_err(|_| "no random numbers from the system".to_string())?;
                        std::fs::create_dir_all(data_dir)
                            .map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
                        write_private(&path, &b64.encode(key))?;
                        key.to_vec()
                    }
                }
            }
        };
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| "secret_key must be 32 bytes in base64".to_string())?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
            mac_root: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
            rng: SystemRandom::new(),
        })
    }

    /// A key that signs tokens for one purpose (`verp`, …), derived from the secret key: the
    /// same on every node that shares it, and different for each purpose.
    pub fn mac_key(&self, purpose: &str) -> ring::hmac::Key {
        let derived = ring::hmac::sign(&self.mac_root, format!("facteur:{purpose}").as_bytes());
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref())
    }

    /// Nonce then ciphertext and tag; `context` is bound to it (a sealed key cannot be moved to
    /// another domain's row).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system random numbers");
        let mut data = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .expect("sealing cannot fail for in-memory data");
        let mut out = nonce.to_vec();
        out.extend(data);
        out
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE_LEN {
            return Err("sealed value too short".into());
        }
        let (nonce, data) = sealed.split_at(NONCE_LEN);
        let mut data = data.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce".to_string())?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| {
                format!(
                    "cannot open the key of {context}: this node's secret key is not the one it was sealed with (copy DATA/secret.key from the first node, or set the same secret_key on every node)"
                )
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The first address of a message's header (`From`, `Sender`), lower case, read as a mail
/// client reads it (never a comment or a display name that looks like an address).
pub fn header_address(message: &[u8], name: &str) -> Option<String> {
    facteur_message::header_mailboxes(message, name)?
        .into_iter()
        .next()
}

/// The context a key is sealed under.
pub(crate) fn context(domain: &str, selector: &str) -> String {
    format!("dkim:{selector}._domainkey.{domain}")
}

/// Which keys a domain gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySet {
    Rsa,
    Ed25519,
    /// Both: every message carries two signatures.
    Both,
}

impl KeySet {
    pub fn parse(s: &str) -> Option<KeySet> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" => Some(KeySet::Rsa),
            "ed25519" => Some(KeySet::Ed25519),
            "both" | "rsa+ed25519" | "dual" => Some(KeySet::Both),
            _ => None,
        }
    }

    pub(crate) fn algorithms(self) -> &'static [Algorithm] {
        match self {
            KeySet::Rsa => &[Algorithm::Rsa],
            KeySet::Ed25519 => &[Algorithm::Ed25519],
            KeySet::Both => &[Algorithm::Rsa, Algorithm::Ed25519],
        }
    }
}

/// A record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `TXT`, `CNAME`, `MX`.
    pub kind: &'static str,
    pub name: String,
    pub value: String,
    /// What it is for.
    pub purpose: String,
}

/// The signing keys of every domain, by domain name: loaded from the store, reloaded when a
/// domain or key changes on this node, and every minute for changes made on other nodes.
#[derive(Default)]
pub struct DkimKeys {
    by_domain: RwLock<SignerMap>,
}

/// The signers of each domain: (domain, owning account, signers).
pub type SignerMap = HashMap<String, (i64, Vec<Arc<Signer>>)>;

impl DkimKeys {
    /// The signers for mail of `account_id` from `domain` or the nearest parent with keys.
    fn signers(&self, account_id: i64, domain: &str) -> Vec<Arc<Signer>> {
        let map = self.by_domain.read().expect("DKIM keys lock");
        let mut d = domain;
        loop {
            if let Some((owner, signers)) = map.get(d) {
                return if *owner == account_id {
                    signers.clone()
                } else {
                    Vec::new()
                };
            }
            match d.split_once('.') {
                Some((_, parent)) if parent.contains('.') => d = parent,
                _ => return Vec::new(),
            }
        }
    }

    /// Replaces every key.
    pub fn replace(&self, map: SignerMap) {
        *self.by_domain.write().expect("DKIM keys lock") = map;
    }

    /// How many domains sign.
    pub fn domains(&self) -> usize {
        self.by_domain.read().expect("DKIM keys lock").len()
    }
}

impl DkimKeys {
    /// Signs a whole message of `account` with the keys of its From domain (or a parent), if
    /// it has any.
    pub fn sign_message(&self, account: i64, body: &mut Vec<u8>) -> Result<(), String> {
        let Some(domain) = header_address(body, "from").map(|a| facteur_store::domain_of(&a))
        else {
            return Ok(());
        };
        let signers = self.signers(account, &domain);
        if signers.is_empty() {
            return Ok(());
        }
        let refs: Vec<&Signer> = signers.iter().map(|s| s.as_ref()).collect();
        dkim::sign(body, &refs)
    }
}

impl Rewrite for DkimKeys {
    fn rewrite(&self, m: &mut Outgoing<'_>) -> Result<(), Problem> {
        let Some(account) = m.account_id else {
            return Ok(());
        };
        self.sign_message(account, m.body).map_err(|e| {
            tracing::error!(error = %e, "DKIM signing failed");
            Problem::Refused(format!("DKIM signing failed: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_their_key_and_context() {
        let dir = std::env::temp_dir().join(format!("facteur-sealer-{}", uuid::Uuid::now_v7()));
        let a = Sealer::load(None, &dir).unwrap();
        // The file is made once and read back.
        let again = Sealer::load(None, &dir).unwrap();
        let sealed = a.seal("dkim:s._domainkey.example.com", b"private");
        assert_eq!(
            again
                .open("dkim:s._domainkey.example.com", &sealed)
                .unwrap(),
            b"private"
        );
        assert!(a.open("dkim:s._domainkey.other.com", &sealed).is_err());
        let other =
            Sealer::load(Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), &dir).unwrap();
        assert!(
            other
                .open("dkim:s._domainkey.example.com", &sealed)
                .is_err()
        );
        assert!(Sealer::load(Some("short"), &dir).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
