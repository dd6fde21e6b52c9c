//! VERP return paths: the envelope sender of each outgoing recipient is
//! `bounce+<recipient id><tag>@<bounce domain>`, so that a bounce or a feedback report that comes
//! back names the recipient it is about, whatever the remote server writes in it. The tag is an
//! HMAC of the id under a key derived from the secret key: an address cannot be made up to
//! mark another recipient as bounced. Hex, so that servers that lower-case local parts do not
//! break it; 39 characters of the 64 a local part may have.

use ring::hmac;

const PREFIX: &str = "bounce+";
/// Bytes of the tag kept (64 bits: forging one takes 2^64 tries).
const TAG_BYTES: usize = 8;

pub struct Verp {
    domain: String,
    key: hmac::Key,
}

impl Verp {
    /// Return paths on `domain` (lower case), signed with `key`.
    pub fn new(domain: &str, key: hmac::Key) -> Verp {
        Verp {
            domain: domain.to_ascii_lowercase(),
            key,
        }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The envelope sender for one recipient.
    pub fn address(&self, recipient_id: i64) -> String {
        let id = (recipient_id as u64).to_be_bytes();
        let tag = hmac::sign(&self.key, &id);
        let mut local = String::with_capacity(PREFIX.len() + 32);
        local.push_str(PREFIX);
        hex(&id, &mut local);
        hex(&tag.as_ref()[..TAG_BYTES], &mut local);
        format!("{local}@{}", self.domain)
    }

    /// The recipient a return path names, if it is one of ours with a valid tag (any case; the
    /// domain is not checked: a report may name the address of another bounce domain we had).
    pub fn recipient(&self, address: &str) -> Option<i64> {
        let address = address.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, _) = address.rsplit_once('@')?;
        let rest = local.get(..PREFIX.len())?;
        if !rest.eq_ignore_ascii_case(PREFIX) {
            return None;
        }
        let token = &local[PREFIX.len()..];
        if token.len() != 2 * (8 + TAG_BYTES) {
            return None;
        }
        let bytes = unhex(token)?;
        let (id, tag) = bytes.split_at(8);
        let full = hmac::sign(&self.key, id);
        // Constant time: ring compares whole tags only, so compare the truncated one by hand.
        let diff = full.as_ref()[..TAG_BYTES]
            .iter()
            .zip(tag)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (diff == 0).then(|| u64::from_be_bytes(id.try_into().expect("8 bytes")) as i64)
    }

    /// The first address among `candidates` that is a valid return path.
    pub fn find<'a>(&self, candidates: impl IntoIterator<Item = &'a str>) -> Option<i64> {
        candidates.into_iter().find_map(|a| self.recipient(a))
    }
}

/// Lower-case hex of `bytes`, appended to `out`.
pub fn hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(*pair.get(1)?)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verp(secret: &[u8]) -> Verp {
        Verp::new(
            "Bounces.Example.COM",
            hmac::Key::new(hmac::HMAC_SHA256, secret),
        )
    }

    #[test]
    fn a_return_path_names_its_recipient_and_nothing_else() {
        let v = verp(b"one");
        let a = v.address(7_123_456_789);
        assert!(a.starts_with("bounce+"), "{a}");
        assert!(a.ends_with("@bounces.example.com"), "{a}");
        assert!(a.split('@').next().unwrap().len() <= 64);
        assert_eq!(v.recipient(&a), Some(7_123_456_789));
        // Servers may change the case of the local part, or keep the angle brackets.
        assert_eq!(v.recipient(&a.to_uppercase()), Some(7_123_456_789));
        assert_eq!(v.recipient(&format!("<{a}>")), Some(7_123_456_789));
        // Another recipient's id with this tag, a changed tag, another key: refused.
        let other = v.address(7_123_456_790);
        let forged = format!("{}{}", &other[..23], &a[23..]);
        assert_eq!(v.recipient(&forged), None);
        let mut edited = a.clone().into_bytes();
        edited[30] = if edited[30] == b'0' { b'1' } else { b'0' };
        assert_eq!(v.recipient(&String::from_utf8(edited).unwrap()), None);
        assert_eq!(verp(b"two").recipient(&a), None);
        for junk in [
            "",
            "bounce+@x.com",
            "bounce+zz@x.com",
            "postmaster@bounces.example.com",
            "bounce+0000000000000001000000000000000@x.com",
            "bounce+é",
        ] {
            assert_eq!(v.recipient(junk), None, "{junk}");
        }
        assert_eq!(
            v.find(["fbl@bounces.example.com", a.as_str()]),
            Some(7_123_456_789)
        );
    }
}
