//! Delivery status notifications: multipart/report (RFC 6522) with a human part, a
//! message/delivery-status part (RFC 3464) and the original headers (text/rfc822-headers).
//! Sent with the null reverse path, so a DSN never causes another DSN.

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

use crate::compose::base64_lines;
use crate::headers::{header_section, rfc5322_date};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    /// Permanent failure or expiry.
    Failed,
    /// Still trying (a delay warning).
    Delayed,
}

#[derive(Debug, Clone)]
pub struct DsnRecipient {
    pub address: String,
    pub action: DsnAction,
    /// Enhanced status code, e.g. `5.1.1`.
    pub status: String,
    /// The remote host that answered, if one did.
    pub remote_mta: Option<String>,
    /// The remote reply or the local reason.
    pub diagnostic: String,
}

#[derive(Debug, Clone)]
pub struct Dsn<'a> {
    pub reporting_mta: &'a str,
    /// Envelope sender of the original message: the DSN goes there.
    pub original_sender: &'a str,
    pub original_envelope_id: i64,
    /// Unix seconds.
    pub arrival_date: i64,
    pub now: i64,
    pub recipients: Vec<DsnRecipient>,
    pub original_message: &'a [u8],
    pub message_id: String,
    pub boundary: String,
}

/// Builds the DSN message (headers and body, CRLF).
pub fn build_dsn(dsn: &Dsn<'_>) -> Vec<u8> {
    let failed = dsn.recipients.iter().any(|r| r.action == DsnAction::Failed);
    let subject = if failed {
        "Undelivered Mail Returned to Sender"
    } else {
        "Delayed Mail (still being retried)"
    };

    let mut human = format!(
        "This is the mail system at host {}.\r\n\r\n",
        dsn.reporting_mta
    );
    if failed {
        human.push_str(
            "I'm sorry to have to inform you that your message could not be delivered to one or\r\nmore recipients. The details are below.\r\n\r\n",
        );
    } else {
        human.push_str(
            "Your message has not been delivered yet; delivery is still being retried.\r\n\r\n",
        );
    }
    for r in &dsn.recipients {
        human.push_str(&format!(
            "<{}>: {}\r\n",
            one_line(&r.address),
            one_line(&r.diagnostic)
        ));
    }

    let mut status = format!(
        "Reporting-MTA: dns; {}\r\nOriginal-Envelope-Id: {}\r\nArrival-Date: {}\r\n",
        dsn.reporting_mta,
        dsn.original_envelope_id,
        rfc5322_date(dsn.arrival_date)
    );
    for r in &dsn.recipients {
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: {}\r\nStatus: {}\r\n",
            one_line(&r.address),
            if r.action == DsnAction::Failed {
                "failed"
            } else {
                "delayed"
            },
            r.status
        ));
        if let Some(mta) = &r.remote_mta {
            status.push_str(&format!("Remote-MTA: dns; {}\r\n", one_line(mta)));
        }
        let kind = if r.remote_mta.is_some() {
            "smtp"
        } else {
            "x-facteur"
        };
        status.push_str(&format!(
            "Diagnostic-Code: {kind}; {}\r\n",
            one_line(&r.diagnostic)
        ));
        status.push_str(&format!("Last-Attempt-Date: {}\r\n", rfc5322_date(dsn.now)));
    }

    // The original headers as they are, 8bit when they are SMTP-clean (they always are when
    // they came through the intake or compose), else base64: never re-encoded into longer
    // lines or carrying a bare CR, LF or NUL.
    let headers = header_section(dsn.original_message);
    let headers_part = if smtp_clean(headers) {
        MimePart::new(
            ContentType::new("text/rfc822-headers").attribute("charset", "utf-8"),
            BodyPart::Binary(headers.into()),
        )
        .transfer_encoding("8bit")
    } else {
        MimePart::new(
            ContentType::new("text/rfc822-headers").attribute("charset", "utf-8"),
            BodyPart::Binary(base64_lines(headers).into()),
        )
        .transfer_encoding("base64")
    };
    let report = MimePart::new(
        ContentType::new("multipart/report")
            .attribute("report-type", "delivery-status")
            .attribute("boundary", dsn.boundary.clone()),
        BodyPart::Multipart(vec![
            MimePart::new(
                ContentType::new("text/plain").attribute("charset", "utf-8"),
                human,
            )
            .transfer_encoding("7bit"),
            MimePart::new(
                ContentType::new("message/delivery-status"),
                BodyPart::Binary(status.into_bytes().into()),
            )
            .transfer_encoding("7bit"),
            headers_part,
        ]),
    );
    MessageBuilder::new()
        .from((
            "Mail Delivery System".to_string(),
            format!("MAILER-DAEMON@{}", dsn.reporting_mta),
        ))
        .to(dsn.original_sender.to_string())
        .subject(subject)
        .message_id(dsn.message_id.clone())
        .date(dsn.now)
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(report)
        .write_to_vec()
        .unwrap_or_default()
}

/// Lines end with CRLF (the last may have no end), no NUL, none over 998 octets.
fn smtp_clean(b: &[u8]) -> bool {
    let mut line = 0;
    for (i, &c) in b.iter().enumerate() {
        match c {
            0 => return false,
            b'\r' if b.get(i + 1) != Some(&b'\n') => return false,
            b'\n' if i == 0 || b[i - 1] != b'\r' => return false,
            b'\r' => {}
            b'\n' => line = 0,
            _ => {
                line += 1;
                if line > 998 {
                    return false;
                }
            }
        }
    }
    true
}

/// Longest diagnostic written (a remote reply can be up to 64 KB); longer ones are cut.
const MAX_DIAGNOSTIC: usize = 800;

/// A remote reply, a local reason or an address in the DSN's 7bit parts: one line of printable
/// ASCII (control characters and runs of white space become one space, other characters `?`),
/// at most [`MAX_DIAGNOSTIC`] octets, so the DSN passes any SMTP server's checks.
fn one_line(s: &str) -> String {
    let mut out = String::new();
    for word in s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(
            word.chars()
                .map(|c| if c.is_ascii_graphic() { c } else { '?' }),
        );
        if out.len() > MAX_DIAGNOSTIC {
            out.truncate(MAX_DIAGNOSTIC);
            out.push_str("...");
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the mime-dsn fuzz target: the original headers went through a lossy UTF-8
    /// conversion, so a 998-octet line with an invalid byte became 1000 octets long.
    #[test]
    fn original_headers_kept_as_they_are() {
        let mut line = b"X-Long: ".to_vec();
        line.resize(990, b'y');
        line.push(0xff);
        line.resize(998, b'z');
        // Clean (CRLF lines, no NUL, none over 998 octets, 8bit allowed): 8bit; else base64.
        for (original, encoding) in [
            (
                [line.clone(), b"\r\nSubject: x\r\n\r\nbody\r\n".to_vec()].concat(),
                "8bit",
            ),
            (b"Subject: a\0b\r\nX: bare\rcr\r\n\r\n".to_vec(), "base64"),
        ] {
            let dsn = Dsn {
                reporting_mta: "mx.test",
                original_sender: "a@b.c",
                original_envelope_id: 1,
                arrival_date: 0,
                now: 0,
                recipients: vec![],
                original_message: &original,
                message_id: "dsn3@mx.test".into(),
                boundary: "BOUNDARY".into(),
            };
            let out = build_dsn(&dsn);
            crate::testing::assert_smtp_safe(&out);
            let shown = || String::from_utf8_lossy(&out).into_owned();
            // The text/rfc822-headers part: its headers, then its body.
            let find = |from: usize, what: &[u8]| {
                out[from..]
                    .windows(what.len())
                    .position(|w| w == what)
                    .map(|i| from + i)
            };
            let start = find(0, b"text/rfc822-headers").unwrap_or_else(|| panic!("{}", shown()));
            let end = find(start, b"\r\n\r\n").unwrap_or_else(|| panic!("{}", shown()));
            let part_headers = String::from_utf8_lossy(&out[start..end]);
            assert!(
                part_headers.contains(&format!("\r\nContent-Transfer-Encoding: {encoding}")),
                "{encoding}: {}",
                shown()
            );
            // As they were, 8bit or in base64.
            let want = header_section(&original);
            let body = match encoding {
                "8bit" => want.to_vec(),
                _ => crate::compose::base64_lines(want),
            };
            assert!(out[end + 4..].starts_with(&body), "{}", shown());
        }
    }

    /// Found by the mime-dsn fuzz target: a remote reply holding a NUL (or a very long one)
    /// went as it was into the DSN's 7bit parts, which the next hop may refuse.
    #[test]
    fn hostile_remote_reply() {
        let original = b"From: a@b.c\r\nSubject: Hello\r\n\r\nbody\r\n";
        let diagnostic = format!("550 5.7.1 a\0b\r.\r \u{1}{} r\u{e9}ponse", "x".repeat(5000));
        let dsn = Dsn {
            reporting_mta: "mx.test",
            original_sender: "a@b.c",
            original_envelope_id: 1,
            arrival_date: 1_795_000_000,
            now: 1_795_000_100,
            recipients: vec![DsnRecipient {
                address: "nobody@x.test".into(),
                action: DsnAction::Failed,
                status: "5.7.1".into(),
                remote_mta: Some("mx.x.test".into()),
                diagnostic,
            }],
            original_message: original,
            message_id: "dsn2@mx.test".into(),
            boundary: "BOUNDARY".into(),
        };
        let out = build_dsn(&dsn);
        crate::testing::assert_smtp_safe(&out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Diagnostic-Code: smtp; 550 5.7.1 a b . xxx"),
            "{text}"
        );
        assert!(text.is_ascii(), "7bit parts are ASCII");
    }

    #[test]
    fn dsn_structure() {
        use mail_parser::MimeHeaders;
        let original = b"From: a@b.c\r\nSubject: Hello\r\n\r\nsecret body\r\n";
        let dsn = Dsn {
            reporting_mta: "mx.test",
            original_sender: "a@b.c",
            original_envelope_id: 42,
            arrival_date: 1_795_000_000,
            now: 1_795_000_100,
            recipients: vec![DsnRecipient {
                address: "nobody@x.test".into(),
                action: DsnAction::Failed,
                status: "5.1.1".into(),
                remote_mta: Some("127.0.0.1".into()),
                diagnostic: "550 5.1.1 no such\r\n user".into(),
            }],
            original_message: original,
            message_id: "dsn1@mx.test".into(),
            boundary: "BOUNDARY".into(),
        };
        let out = build_dsn(&dsn);
        let parsed = mail_parser::MessageParser::default().parse(&out).unwrap();
        assert_eq!(
            parsed.subject(),
            Some("Undelivered Mail Returned to Sender")
        );
        let ct = parsed.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        assert_eq!(parsed.parts.len(), 4, "root + 3 parts");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Type: message/delivery-status\r\nContent-Transfer-Encoding: 7bit\r\n\r\nReporting-MTA: dns; mx.test\r\n"));
        assert!(text.contains("Final-Recipient: rfc822; nobody@x.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; 127.0.0.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n"));
        assert!(text.contains("Subject: Hello"), "original headers included");
        assert!(!text.contains("secret body"), "original body not included");
        assert!(text.contains("Auto-Submitted: auto-replied"));
    }
}
