//! Headers added when a message is accepted.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// What the Received header says about the hop into Facteur (RFC 5321 4.4).
#[derive(Debug, Clone)]
pub struct ReceivedInfo<'a> {
    pub helo: &'a str,
    pub peer_ip: &'a str,
    pub hostname: &'a str,
    pub esmtp: bool,
    pub tls: bool,
    pub authenticated: bool,
    /// Unix seconds.
    pub now: i64,
}

/// RFC 5322 date, e.g. `Sun, 22 Nov 2026 11:12:13 +0000`.
pub fn rfc5322_date(unix_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(&Rfc2822)
        .unwrap_or_default()
}

/// The header section of a message (up to and including the empty line, if any).
pub fn header_section(message: &[u8]) -> &[u8] {
    if message.starts_with(b"\r\n") {
        return &message[..2];
    }
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => &message[..p + 4],
        None => message,
    }
}

/// Whether the header section has a field of this name (case-insensitive).
fn has_header(headers: &[u8], name: &str) -> bool {
    headers.split(|&b| b == b'\n').any(|line| {
        line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && line[name.len()] == b':'
    })
}

/// Prepends a Received header, and Message-ID / Date when the message lacks them
/// (RFC 6409 8.2, 8.3). `message_id` is called only when one is needed.
pub fn normalize_on_accept(
    message: &[u8],
    info: &ReceivedInfo<'_>,
    message_id: impl FnOnce() -> String,
) -> Vec<u8> {
    let protocol = match (info.esmtp, info.tls, info.authenticated) {
        (false, _, _) => "SMTP",
        (true, true, true) => "ESMTPSA",
        (true, true, false) => "ESMTPS",
        (true, false, true) => "ESMTPA",
        (true, false, false) => "ESMTP",
    };
    let date = rfc5322_date(info.now);
    let mut out = Vec::with_capacity(message.len() + 300);
    out.extend_from_slice(
        format!(
            "Received: from {} ([{}])\r\n\tby {} (Facteur) with {};\r\n\t{}\r\n",
            sanitize(info.helo),
            info.peer_ip,
            info.hostname,
            protocol,
            date
        )
        .as_bytes(),
    );
    let headers = header_section(message);
    if !has_header(headers, "message-id") {
        out.extend_from_slice(format!("Message-ID: <{}>\r\n", message_id()).as_bytes());
    }
    if !has_header(headers, "date") {
        out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
    }
    out.extend_from_slice(message);
    out
}

/// A HELO name goes into a header: keep it to printable ASCII without parentheses.
fn sanitize(helo: &str) -> String {
    helo.chars()
        .filter(|c| c.is_ascii_graphic() && !"()\\".contains(*c))
        .take(255)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ReceivedInfo<'static> {
        ReceivedInfo {
            helo: "client.example",
            peer_ip: "127.0.0.1",
            hostname: "mx.test",
            esmtp: true,
            tls: true,
            authenticated: true,
            now: 1_795_000_000,
        }
    }

    #[test]
    fn adds_missing_headers() {
        let out = normalize_on_accept(b"Subject: hi\r\n\r\nbody\r\n", &info(), || {
            "id1@mx.test".into()
        });
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Received: from client.example ([127.0.0.1])\r\n\tby mx.test (Facteur) with ESMTPSA;\r\n\t"));
        assert!(text.contains("\r\nMessage-ID: <id1@mx.test>\r\nDate: "));
        assert!(text.ends_with("Subject: hi\r\n\r\nbody\r\n"));
    }

    #[test]
    fn keeps_existing_headers_and_ignores_body() {
        let msg = b"message-id: <x@y>\r\nDATE: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nMessage-ID: in body\r\n";
        let out = normalize_on_accept(msg, &info(), || panic!("not needed"));
        assert_eq!(
            String::from_utf8(out)
                .unwrap()
                .to_lowercase()
                .matches("\ndate:")
                .count(),
            1
        );
        let no_headers =
            normalize_on_accept(b"\r\nMessage-ID: <body>\r\n", &info(), || "new@mx".into());
        assert!(
            String::from_utf8(no_headers)
                .unwrap()
                .contains("Message-ID: <new@mx>")
        );
    }

    #[test]
    fn date_format() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
