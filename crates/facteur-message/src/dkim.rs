//! DKIM (RFC 6376, RFC 8463): key pairs, the DNS record that publishes one, and signing a
//! message as it will leave, relaxed/relaxed, with the identity headers oversigned (listed once
//! more than they occur, so none can be added after signing). mail-auth does the
//! canonicalisation and the cryptography (ring).

use base64::Engine as _;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::generate::DkimKeyPair;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};

/// The signature algorithm of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSA-SHA256 (2048-bit keys by default): what every receiver verifies.
    Rsa,
    /// Ed25519-SHA256 (RFC 8463): short keys, verified by fewer receivers; sign with both.
    Ed25519,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa-sha256" => Some(Algorithm::Rsa),
            "ed25519" | "ed25519-sha256" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
}

/// The headers signed, in this order; the first five are oversigned.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Subject",
    "To",
    "Date",
    "Message-ID",
    "From",
    "Subject",
    "To",
    "Date",
    "Message-ID",
    "Cc",
    "Reply-To",
    "Sender",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
    "Feedback-ID",
];

/// A new key pair: the private key (PKCS#1 DER for RSA, PKCS#8 DER for Ed25519) and the
/// public key as the `p=` of its DNS record.
pub struct KeyPair {
    pub private_der: Vec<u8>,
    pub public: String,
}

/// Generates a key pair. RSA key generation takes a moment (a second or so in release).
pub fn generate(algorithm: Algorithm, rsa_bits: usize) -> Result<KeyPair, String> {
    let pair = match algorithm {
        Algorithm::Rsa => DkimKeyPair::generate_rsa(rsa_bits),
        Algorithm::Ed25519 => DkimKeyPair::generate_ed25519(),
    }
    .map_err(|e| format!("generating a DKIM key: {e}"))?;
    let (private_der, public) = pair.into_inner();
    let public = match algorithm {
        Algorithm::Rsa => spki_of_rsa(&public),
        Algorithm::Ed25519 => public,
    };
    Ok(KeyPair {
        private_der,
        public: base64::engine::general_purpose::STANDARD.encode(public),
    })
}

/// The TXT record's value that publishes a public key.
pub fn record_value(algorithm: Algorithm, public: &str) -> String {
    format!("v=DKIM1; k={}; p={public}", algorithm.as_str())
}

/// A DER length.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        let mut out = vec![0x80 | bytes.len() as u8];
        out.extend(bytes);
        out
    }
}

/// A PKCS#1 RSAPublicKey wrapped as the SubjectPublicKeyInfo that DKIM records carry.
fn spki_of_rsa(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID rsaEncryption, NULL }
    const ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    bit_string.extend(der_len(pkcs1.len() + 1));
    bit_string.push(0);
    bit_string.extend(pkcs1);
    let mut out = vec![0x30];
    out.extend(der_len(ALGORITHM.len() + bit_string.len()));
    out.extend(ALGORITHM);
    out.extend(bit_string);
    out
}

enum Key {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

fn signer_of<T: mail_auth::common::crypto::SigningKey>(
    key: T,
    domain: &str,
    selector: &str,
) -> DkimSigner<T, Done> {
    DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS.iter().copied())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

/// A key ready to sign for a domain and selector.
pub struct Signer {
    pub domain: String,
    pub selector: String,
    key: Key,
}

impl Signer {
    pub fn new(
        domain: &str,
        selector: &str,
        algorithm: Algorithm,
        private_der: &[u8],
    ) -> Result<Signer, String> {
        let key = match algorithm {
            Algorithm::Rsa => Key::Rsa(signer_of(
                RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(
                    private_der.to_vec(),
                )))
                .map_err(|e| format!("the RSA key of {selector}._domainkey.{domain}: {e}"))?,
                domain,
                selector,
            )),
            Algorithm::Ed25519 => Key::Ed25519(signer_of(
                Ed25519Key::from_pkcs8_der(private_der).map_err(|e| {
                    format!("the Ed25519 key of {selector}._domainkey.{domain}: {e}")
                })?,
                domain,
                selector,
            )),
        };
        Ok(Signer {
            domain: domain.to_string(),
            selector: selector.to_string(),
            key,
        })
    }

    /// The `DKIM-Signature:` header field (folded, CRLF-terminated) for `message`.
    pub fn signature(&self, message: &[u8]) -> Result<String, String> {
        let sig = match &self.key {
            Key::Rsa(k) => k.sign(message),
            Key::Ed25519(k) => k.sign(message),
        }
        .map_err(|e| format!("DKIM signing for {}: {e}", self.domain))?;
        Ok(sig.to_header())
    }
}

/// Signs `message` with every signer (RSA and Ed25519 for dual signing): their headers go on
/// top, each computed over the message as it is without the others.
pub fn sign(message: &mut Vec<u8>, signers: &[&Signer]) -> Result<(), String> {
    if signers.is_empty() {
        return Ok(());
    }
    let mut headers = String::new();
    for s in signers {
        headers.push_str(&s.signature(message)?);
    }
    message.splice(0..0, headers.into_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::common::verify::DomainKey;
    use mail_auth::{
        AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
    };
    use std::borrow::Borrow;
    use std::collections::HashMap;
    use std::hash::Hash;
    use std::sync::Arc;

    const MSG: &[u8] = b"From: Ada <ada@example.com>\r\nTo: bob@example.net\r\nSubject: Hi\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHello  there\r\n";

    struct Cache(HashMap<Box<str>, Txt>);

    impl ResolverCache<Box<str>, Txt> for Cache {
        fn get<Q>(&self, name: &Q) -> Option<Txt>
        where
            Box<str>: Borrow<Q>,
            Q: Hash + Eq + ?Sized,
        {
            self.0.get(name).cloned()
        }
        fn remove<Q>(&self, _: &Q) -> Option<Txt>
        where
            Box<str>: Borrow<Q>,
            Q: Hash + Eq + ?Sized,
        {
            None
        }
        fn insert(&self, _: Box<str>, _: Txt, _: std::time::Instant) {}
    }

    fn verify(message: &[u8], records: &[(&str, String)]) -> Vec<DkimResult> {
        let auth = MessageAuthenticator::new_cloudflare().unwrap();
        let cache = Cache(
            records
                .iter()
                .map(|(name, v)| {
                    (
                        (*name).into(),
                        Txt::DomainKey(Arc::new(DomainKey::parse(v.as_bytes()).unwrap())),
                    )
                })
                .collect(),
        );
        let m = AuthenticatedMessage::parse(message).unwrap();
        tokio_rt().block_on(async {
            auth.verify_dkim(Parameters::new(&m).with_txt_cache(&cache))
                .await
                .into_iter()
                .map(|o| o.result().clone())
                .collect()
        })
    }

    fn tokio_rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn signatures_verify_and_a_tampered_body_does_not() {
        let rsa = generate(Algorithm::Rsa, 2048).unwrap();
        let ed = generate(Algorithm::Ed25519, 0).unwrap();
        let s1 = Signer::new("example.com", "f1", Algorithm::Rsa, &rsa.private_der).unwrap();
        let s2 = Signer::new("example.com", "f2", Algorithm::Ed25519, &ed.private_der).unwrap();
        let mut m = MSG.to_vec();
        sign(&mut m, &[&s1, &s2]).unwrap();
        let text = String::from_utf8_lossy(&m).to_string();
        assert!(
            text.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"),
            "{text}"
        );
        assert!(text.contains("c=relaxed/relaxed"));
        assert!(text.contains("a=ed25519-sha256"));
        let records = [
            (
                "f1._domainkey.example.com.",
                record_value(Algorithm::Rsa, &rsa.public),
            ),
            (
                "f2._domainkey.example.com.",
                record_value(Algorithm::Ed25519, &ed.public),
            ),
        ];
        assert_eq!(
            verify(&m, &records),
            vec![DkimResult::Pass, DkimResult::Pass]
        );
        let tampered = text.replace("Hello  there", "Hello there!");
        assert!(
            verify(tampered.as_bytes(), &records)
                .iter()
                .all(|r| *r != DkimResult::Pass)
        );
        // An added From (the oversigned header) breaks it too.
        let added = text.replacen("From: Ada", "From: Eve <eve@evil.test>\r\nFrom: Ada", 1);
        assert!(
            verify(added.as_bytes(), &records)
                .iter()
                .all(|r| *r != DkimResult::Pass)
        );
    }
}
