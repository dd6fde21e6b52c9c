//! SASL PLAIN (RFC 4616) and LOGIN decoding: base64 responses to credentials.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslError {
    /// The client sent `*` (RFC 4954 4).
    Cancelled,
    BadBase64,
    Malformed,
}

/// Decodes one base64 SASL response; `*` cancels.
pub fn decode_response(line: &str) -> Result<Vec<u8>, SaslError> {
    let line = line.trim();
    if line == "*" {
        return Err(SaslError::Cancelled);
    }
    if line == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(line).map_err(|_| SaslError::BadBase64)
}

/// `[authzid] NUL authcid NUL passwd` → (authcid, passwd).
pub fn decode_plain(line: &str) -> Result<(String, String), SaslError> {
    let raw = decode_response(line)?;
    let mut parts = raw.split(|&b| b == 0);
    let (Some(_authzid), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let user = String::from_utf8(user.to_vec()).map_err(|_| SaslError::Malformed)?;
    let pass = String::from_utf8(pass.to_vec()).map_err(|_| SaslError::Malformed)?;
    if user.is_empty() {
        return Err(SaslError::Malformed);
    }
    Ok((user, pass))
}

/// One LOGIN step (username or password).
pub fn decode_login(line: &str) -> Result<String, SaslError> {
    String::from_utf8(decode_response(line)?).map_err(|_| SaslError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        let b64 = STANDARD.encode(b"\0key\0secret");
        assert_eq!(decode_plain(&b64), Ok(("key".into(), "secret".into())));
        let b64 = STANDARD.encode(b"admin\0key\0secret");
        assert_eq!(decode_plain(&b64), Ok(("key".into(), "secret".into())));
        assert_eq!(decode_plain("*"), Err(SaslError::Cancelled));
        assert_eq!(decode_plain("!!!"), Err(SaslError::BadBase64));
        assert_eq!(
            decode_plain(&STANDARD.encode(b"nonul")),
            Err(SaslError::Malformed)
        );
    }
}
