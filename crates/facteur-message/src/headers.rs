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

/// The fields of a header section as written: each with its continuation lines (those that
/// start with a space or a tab) and its line end. The empty line that ends the section is a
/// field of its own.
pub fn fields(section: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = section;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        loop {
            end += rest[end..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len() - end, |i| i + 1);
            // A line starting with a space or a tab continues the field; the empty line that
            // ends the section is never continued.
            let continued = end < rest.len()
                && matches!(rest[end], b' ' | b'\t')
                && !matches!(&rest[..end], b"\r\n" | b"\n");
            if !continued {
                break;
            }
        }
        let (field, tail) = rest.split_at(end);
        rest = tail;
        Some(field)
    })
}

/// A field's name, trimmed (`None` for a line without a colon).
pub fn field_name(field: &[u8]) -> Option<&[u8]> {
    let colon = field.iter().position(|&b| b == b':')?;
    Some(field[..colon].trim_ascii())
}

/// The unfolded, trimmed value of the first field `name` (case-insensitive), as written.
pub fn header_value(message: &[u8], name: &str) -> Option<String> {
    fields(header_section(message)).find_map(|f| {
        let n = field_name(f)?;
        if !n.eq_ignore_ascii_case(name.as_bytes()) {
            return None;
        }
        field_value(f)
    })
}

/// A field's value, unfolded and trimmed, as written (`None` for a line without a colon).
pub fn field_value(field: &[u8]) -> Option<String> {
    let value = String::from_utf8_lossy(&field[field.iter().position(|&b| b == b':')? + 1..])
        .replace("\r\n", "")
        .replace('\n', "");
    Some(value.trim().to_string())
}

/// The mailboxes of a message's header field `name` (`From`, `Sender`), lower case, as a
/// mail client reads them (mail-parser: comments, quoted local parts, groups, encoded words).
/// `None`: the message has no such field. `Some(empty)`: it has one that holds no address, or
/// more than one such field — which a check must refuse, never read past.
pub fn header_mailboxes(message: &[u8], name: &str) -> Option<Vec<String>> {
    let section = header_section(message);
    let count = fields(section)
        .filter(|f| field_name(f).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes())))
        .count();
    match count {
        0 => return None,
        1 => {}
        _ => return Some(Vec::new()),
    }
    let Some(parsed) = mail_parser::MessageParser::new().parse_headers(message) else {
        return Some(Vec::new());
    };
    let header = match name.to_ascii_lowercase().as_str() {
        "from" => parsed.from(),
        "sender" => parsed.sender(),
        "to" => parsed.to(),
        "reply-to" => parsed.reply_to(),
        _ => None,
    };
    Some(
        header
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.address())
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| s.contains('@'))
                    .collect()
            })
            .unwrap_or_default(),
    )
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

    #[test]
    fn mailboxes_are_read_as_a_mail_client_reads_them() {
        let m =
            |h: &str| header_mailboxes(format!("{h}\r\nSubject: x\r\n\r\nbody").as_bytes(), "from");
        assert_eq!(
            m("From: App <App@Example.com>"),
            Some(vec!["app@example.com".to_string()])
        );
        // A comment that looks like an address is a comment.
        assert_eq!(
            m("From: ceo@victim.test (<ok@valid.test>)"),
            Some(vec!["ceo@victim.test".to_string()])
        );
        assert_eq!(
            m("From: <ceo@victim.test>, <ok@valid.test>"),
            Some(vec![
                "ceo@victim.test".to_string(),
                "ok@valid.test".to_string()
            ])
        );
        assert_eq!(
            m("From: \"ok@valid.test\" <ceo@victim.test>"),
            Some(vec!["ceo@victim.test".to_string()])
        );
        // Two From fields, or one with nothing readable: nothing to trust.
        assert_eq!(
            m("From: a@valid.test\r\nFrom: ceo@victim.test"),
            Some(vec![])
        );
        assert_eq!(m("From: undisclosed"), Some(vec![]));
        assert_eq!(m("To: a@b.test"), None);
    }

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
    fn fields_keep_their_continuation_lines() {
        let msg = b"Subject: a\r\n b\r\nX-A:1\r\n\r\n body\r\n";
        let section = header_section(msg);
        let all: Vec<&[u8]> = fields(section).collect();
        assert_eq!(all, [&b"Subject: a\r\n b\r\n"[..], b"X-A:1\r\n", b"\r\n"]);
        assert_eq!(field_name(all[1]), Some(&b"X-A"[..]));
        assert_eq!(header_value(msg, "subject").as_deref(), Some("a b"));
        assert_eq!(header_value(msg, "x-b"), None);
    }

    #[test]
    fn date_format() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
    }
}
