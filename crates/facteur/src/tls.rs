//! TLS settings: the server certificate (configured, or a self-signed one generated once in the
//! data directory for development) and the outbound client (opportunistic STARTTLS).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
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

/// Client config for opportunistic STARTTLS (RFC 7435): encrypt whenever the server offers it,
/// without authenticating the certificate (MX hosts rarely have one that matches, and refusing
/// would only push delivery back to clear text).
pub fn opportunistic_client_config() -> Arc<rustls::ClientConfig> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AcceptAnyCertificate;

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
