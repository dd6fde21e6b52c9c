//! TLS settings: the server certificate (configured, or a self-signed one generated once in the
//! data directory for development) (the outbound client's is `facteur_engine::delivery::tls`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls_pki_types::pem::PemObject;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Server config (TLS 1.2 and 1.3 only) from PEM files, or from a generated self-signed
/// certificate stored as `DATA/tls-cert.pem` / `DATA/tls-key.pem` (created on first start).
pub fn server_config(
    configured: Option<(&Path, &Path)>,
    data_dir: &Path,
    hostname: &str,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, String)> {
    let (cert_path, key_path, origin) = match configured {
        Some((c, k)) => (c.to_path_buf(), k.to_path_buf(), "configured"),
        None => {
            let c = data_dir.join("tls-cert.pem");
            let k = data_dir.join("tls-key.pem");
            if !c.exists() || !k.exists() {
                let mut names = vec![hostname.to_string()];
                if hostname != "localhost" {
                    names.push("localhost".into());
                }
                let cert = rcgen::generate_simple_self_signed(names)
                    .context("generating a self-signed certificate")?;
                std::fs::create_dir_all(data_dir)?;
                std::fs::write(&c, cert.cert.pem())?;
                std::fs::write(&k, cert.signing_key.serialize_pem())?;
            }
            (
                c,
                k,
                "self-signed (development only; set tls_cert and tls_key for production)",
            )
        }
    };
    let certs = CertificateDer::pem_file_iter(&cert_path)
        .with_context(|| format!("reading certificate {}", cert_path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("reading private key {}", key_path.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("certificate and key do not match")?;
    Ok((
        Arc::new(config),
        format!("{} ({origin})", cert_path.display()),
    ))
}
