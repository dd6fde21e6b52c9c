//! Mail that comes back: delivery status notifications (RFC 3464) and the non-standard bounce
//! texts of the common MTAs and providers (qmail, Exim, Yahoo, GroupWise…), feedback reports
//! (ARF, RFC 5965), and what is neither (auto-replies, people answering). Pure: bytes in, a
//! [`Report`] out, each failed recipient with its status code and [`BounceClass`].

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::outcome::{BounceClass, Severity};

/// What a message that arrived at the bounce domain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// A bounce: one or more recipients failed, or are delayed.
    Bounce,
    /// A feedback-loop report (a recipient marked the message as spam).
    Complaint,
    /// An automatic answer that says nothing about delivery (out of office, challenge).
    AutoReply,
    /// Anything else: a person's answer, a success notification, a list digest.
    NotABounce,
}

/// What the report says happened to the recipient: given up, or still being tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Failed,
    Delayed,
}

/// One recipient a bounce reports on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Lower case; the address as it was sent to (the DSN's Original-Recipient when given).
    pub address: String,
    pub action: Action,
    /// The enhanced status code (`5.1.1`), when the report gives one.
    pub status: Option<String>,
    pub class: BounceClass,
    /// The host that refused it, when named.
    pub remote_mta: Option<String>,
    /// The remote server's words (the DSN's Diagnostic-Code, or the bounce text's line).
    pub diagnostic: String,
}

impl Failure {
    /// Hard, soft or policy: a delayed recipient is soft whatever the class.
    pub fn severity(&self) -> Severity {
        match self.action {
            Action::Delayed => Severity::Soft,
            Action::Failed => self.class.severity(),
        }
    }
}

/// A feedback report's facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Complaint {
    /// `abuse`, `fraud`, `virus`, `other`… (`not-spam` and `auth-failure` reports are
    /// [`ReportKind::NotABounce`]).
    pub feedback_type: String,
    /// Who complained: Original-Rcpt-To, or the reported message's To.
    pub recipient: Option<String>,
    /// The feedback program (User-Agent, else Reporting-MTA).
    pub source: String,
    pub source_ip: Option<String>,
}

/// A message received at the bounce domain, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: ReportKind,
    /// The recipients a bounce reports on (empty for the other kinds).
    pub failures: Vec<Failure>,
    pub complaint: Option<Complaint>,
    /// The addresses the report was written to (To, Delivered-To, X-Original-To): where a VERP
    /// token is.
    pub addressed_to: Vec<String>,
    /// The returned message's Return-Path (a feedback loop writes to a fixed address; the
    /// message it reports still carries its VERP sender).
    pub original_return_path: Option<String>,
    pub original_message_id: Option<String>,
}

/// Reads a message received at the bounce domain.
pub fn parse(raw: &[u8]) -> Report {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Report {
            kind: ReportKind::NotABounce,
            failures: Vec::new(),
            complaint: None,
            addressed_to: Vec::new(),
            original_return_path: None,
            original_message_id: None,
        };
    };
    let mut addressed_to = Vec::new();
    for name in ["To", "Delivered-To", "X-Original-To", "Envelope-To"] {
        for value in msg.header_values(name) {
            let text = match value {
                mail_parser::HeaderValue::Address(a) => a
                    .iter()
                    .filter_map(|a| a.address.as_deref())
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.as_text().unwrap_or_default().to_string(),
            };
            for a in addresses_in(&text) {
                if !addressed_to.contains(&a) {
                    addressed_to.push(a);
                }
            }
        }
    }
    let original = original_headers(&msg);
    let original_return_path = original
        .as_ref()
        .and_then(|o| header_of(o, "return-path"))
        .and_then(|v| addresses_in(&v).into_iter().next());
    let original_message_id = original
        .as_ref()
        .and_then(|o| header_of(o, "message-id"))
        .map(|v| v.trim().trim_matches(['<', '>']).to_string());
    let original_to = original
        .as_ref()
        .and_then(|o| header_of(o, "to"))
        .and_then(|v| addresses_in(&v).into_iter().next());
    let mut report = Report {
        kind: ReportKind::NotABounce,
        failures: Vec::new(),
        complaint: None,
        addressed_to,
        original_return_path,
        original_message_id,
    };

    // 1. A feedback report.
    if let Some(fields) = part_of_type(&msg, "message", "feedback-report") {
        let f = fields_of(&fields);
        let get = |n: &str| {
            f.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let recipient = get("Original-Rcpt-To")
            .or_else(|| get("Removal-Recipient"))
            .and_then(|v| addresses_in(&v).into_iter().next())
            .or(original_to);
        let feedback_type = get("Feedback-Type")
            .unwrap_or_else(|| "abuse".into())
            .to_ascii_lowercase();
        // An authentication failure report (RFC 6591) is about the sender's DNS, and a
        // not-spam report is the opposite of a complaint: neither asks to stop sending.
        if feedback_type == "auth-failure" || feedback_type == "not-spam" {
            return report;
        }
        report.kind = ReportKind::Complaint;
        report.complaint = Some(Complaint {
            feedback_type,
            recipient,
            source: get("User-Agent")
                .or_else(|| get("Reporting-MTA").map(|v| after_type(&v)))
                .unwrap_or_default(),
            source_ip: get("Source-IP"),
        });
        return report;
    }

    // 2. A delivery status notification.
    if let Some(status) = part_of_type(&msg, "message", "delivery-status")
        .or_else(|| part_of_type(&msg, "message", "global-delivery-status"))
    {
        let failures = dsn_failures(&status);
        if !failures.is_empty() {
            report.kind = ReportKind::Bounce;
            report.failures = failures;
        }
        // A DSN that only says delivered / relayed / expanded is not a bounce.
        return report;
    }

    // 3. A bounce in words.
    let text = report_text(&msg);
    let subject = msg.subject().unwrap_or_default().to_ascii_lowercase();
    let from = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address.as_deref())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let failed_header: Vec<String> = msg
        .header_values("X-Failed-Recipients")
        .filter_map(|v| v.as_text())
        .flat_map(addresses_in)
        .collect();
    let local = from.split('@').next().unwrap_or_default();
    let from_daemon = [
        "mailer-daemon",
        "postmaster",
        "mail-daemon",
        "mailerdaemon",
        "mdaemon",
    ]
    .contains(&local);
    const BOUNCE_SUBJECTS: &[&str] = &[
        "undeliverable",
        "undelivered",
        "failure notice",
        "delivery failed",
        "delivery failure",
        "delivery status notification",
        "returned mail",
        "returned to sender",
        "could not be delivered",
        "mail delivery",
        "nondeliverable",
        "non-delivery",
        "delivery has failed",
        "warning: message",
        "delayed mail",
    ];
    let bounce_subject = BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s));
    if !failed_header.is_empty() || from_daemon || bounce_subject {
        let body = text.to_ascii_lowercase();
        let delayed = subject.contains("warning")
            || subject.contains("delay")
            || body.contains("will be retried")
            || body.contains("still being retried")
            || body.contains("has not yet been delivered")
            || body.contains("will continue to try");
        let exclude: Vec<String> = report
            .addressed_to
            .iter()
            .cloned()
            .chain([from.clone()])
            .collect();
        let mut addresses = failed_header;
        if addresses.is_empty() {
            // Addresses in angle brackets name recipients (`<a@b>:` in qmail and Yahoo); the
            // other addresses of the text only when there are none (Exim's indented list).
            let bracketed: Vec<String> = text
                .split('<')
                .skip(1)
                .filter_map(|rest| rest.split_once('>').map(|(inside, _)| inside))
                .flat_map(addresses_in)
                .take(1000)
                .collect();
            let candidates = if bracketed.is_empty() {
                addresses_in(&text)
            } else {
                bracketed
            };
            let mut seen: std::collections::HashSet<String> = addresses.iter().cloned().collect();
            for a in candidates {
                if !exclude.contains(&a) && !is_daemon(&a) && seen.insert(a.clone()) {
                    addresses.push(a);
                }
            }
        }
        if addresses.is_empty()
            && let Some(to) = original_to
        {
            addresses.push(to);
        }
        let status = enhanced_code_in(&text);
        let code = basic_code_in(&text);
        let class = BounceClass::of_reply(code, status.as_deref().unwrap_or(""), &text);
        let diagnostic = diagnostic_line(&text);
        if !addresses.is_empty() {
            report.kind = ReportKind::Bounce;
            report.failures = addresses
                .into_iter()
                .map(|address| Failure {
                    address,
                    action: if delayed {
                        Action::Delayed
                    } else {
                        Action::Failed
                    },
                    status: status.clone(),
                    class,
                    remote_mta: None,
                    diagnostic: diagnostic.clone(),
                })
                .collect();
            return report;
        }
    }

    // 4. An automatic answer.
    let header = |n: &str| {
        msg.header_values(n)
            .filter_map(|v| v.as_text())
            .map(str::to_ascii_lowercase)
            .collect::<Vec<_>>()
    };
    let auto_submitted = header("Auto-Submitted")
        .iter()
        .any(|v| v.starts_with("auto-replied"));
    let auto_header = ["X-Autoreply", "X-Autorespond", "X-Autoresponder"]
        .iter()
        .any(|n| msg.header(*n).is_some())
        || header("Precedence").iter().any(|v| v == "auto_reply")
        || header("X-Auto-Response-Suppress")
            .iter()
            .any(|v| v.contains("all") || v.contains("oof"));
    const AUTO_SUBJECTS: &[&str] = &[
        "out of office",
        "out of the office",
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "auto:",
        "autosvar",
        "abwesenheit",
        "réponse automatique",
        "vacation",
        "please confirm your message",
    ];
    if auto_submitted || auto_header || AUTO_SUBJECTS.iter().any(|s| subject.contains(s)) {
        report.kind = ReportKind::AutoReply;
    }
    report
}

/// The per-recipient fields of a `message/delivery-status` part, for the recipients that
/// failed or are delayed.
fn dsn_failures(status: &str) -> Vec<Failure> {
    let unfolded = status.replace("\r\n", "\n");
    let mut blocks = unfolded.split("\n\n").filter(|b| !b.trim().is_empty());
    // The first block is about the message.
    let _per_message = blocks.next();
    let mut out = Vec::new();
    for block in blocks {
        let f = fields_of(block);
        let get = |n: &str| {
            f.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let action = match get("Action").map(|a| a.trim().to_ascii_lowercase()) {
            Some(a) if a.starts_with("failed") => Action::Failed,
            Some(a) if a.starts_with("delayed") => Action::Delayed,
            _ => continue,
        };
        let Some(address) = get("Original-Recipient")
            .or_else(|| get("Final-Recipient"))
            .map(|v| after_type(&v).trim_matches(['<', '>']).to_ascii_lowercase())
            .filter(|a| a.contains('@'))
        else {
            continue;
        };
        let status = get("Status").and_then(|s| enhanced_code_in(&s));
        let diagnostic = get("Diagnostic-Code")
            .map(|v| after_type(&v))
            .unwrap_or_default();
        let code = basic_code_in(&diagnostic);
        let class = BounceClass::of_reply(code, status.as_deref().unwrap_or(""), &diagnostic);
        out.push(Failure {
            address,
            action,
            status,
            class,
            remote_mta: get("Remote-MTA").map(|v| after_type(&v)),
            diagnostic,
        });
    }
    out
}

/// `rfc822; a@b` → `a@b`; `dns; mx.example` → `mx.example`; a value with no type as it is.
fn after_type(v: &str) -> String {
    match v.split_once(';') {
        Some((_, rest)) => rest.trim().to_string(),
        None => v.trim().to_string(),
    }
}

/// Header-style fields (`Name: value`, continuation lines folded in), in order.
fn fields_of(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// The decoded content of the first part of `type/subtype`, as text.
fn part_of_type(msg: &Message<'_>, c_type: &str, subtype: &str) -> Option<String> {
    msg.parts.iter().find_map(|p| {
        let ct = p.content_type()?;
        (ct.ctype().eq_ignore_ascii_case(c_type)
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype)))
        .then(|| String::from_utf8_lossy(p.contents()).into_owned())
    })
}

/// The returned message's header fields: an attached message, attached headers
/// (`text/rfc822-headers`), or the copy after the separator of a plain-text bounce.
fn original_headers(msg: &Message<'_>) -> Option<Vec<(String, String)>> {
    for p in msg.parts.iter().skip(1) {
        if let PartType::Message(m) = &p.body {
            return Some(
                m.headers_raw()
                    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                    .collect(),
            );
        }
        if let Some(ct) = p.content_type()
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
        {
            return Some(fields_of(&String::from_utf8_lossy(p.contents())));
        }
    }
    // A plain-text bounce quotes the original after its text.
    let body = msg.body_text(0)?;
    let start = body
        .find("\nReturn-Path:")
        .or_else(|| body.find("\nReceived:"))?;
    let rest = &body[start + 1..];
    let end = rest.find("\n\n").unwrap_or(rest.len());
    Some(fields_of(&rest[..end]))
}

fn header_of(fields: &[(String, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// The bounce's own words: its first text part, cut where the copy of the original begins.
fn report_text(msg: &Message<'_>) -> String {
    let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    const SEPARATORS: &[&str] = &[
        "--- Below this line is a copy of the message",
        "------ This is a copy of the message",
        "----- Original message -----",
        "-----Original Message-----",
        "Original Message Header",
        "----- The header of the original message is following",
        "------ This is a copy of your message",
        "Original message follows",
        "\nReturn-Path:",
        "\nReceived: from",
    ];
    let cut = SEPARATORS
        .iter()
        .filter_map(|s| text.find(s))
        .min()
        .unwrap_or(text.len());
    text[..cut].to_string()
}

fn is_daemon(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or_default();
    matches!(local, "mailer-daemon" | "postmaster" | "mail-daemon")
}

/// Every e-mail address in a text, lower case, in order, without repeats.
pub fn addresses_in(text: &str) -> Vec<String> {
    // At most this many (a hostile text full of addresses is not read to the end).
    const MOST: usize = 1000;
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let is_addr_char = |c: char| c.is_ascii_alphanumeric() || "._%+-=!#$&'*/?^`{|}~".contains(c);
    for (i, _) in text.match_indices('@') {
        let before = &text[..i];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !is_addr_char(*c))
            .map(|(j, c)| j + c.len_utf8())
            .unwrap_or(0);
        let after = &text[i + 1..];
        let end = after
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '-'))
            .map(|(j, _)| j)
            .unwrap_or(after.len());
        let local = before[start..].trim_start_matches(['\'', '`']);
        let domain = after[..end].trim_end_matches(['.', '-']);
        if local.is_empty() || !domain.contains('.') {
            continue;
        }
        let a = format!("{local}@{domain}").to_ascii_lowercase();
        if seen.insert(a.clone()) {
            out.push(a);
            if out.len() == MOST {
                break;
            }
        }
    }
    out
}

/// The first enhanced status code (`5.1.1`, `4.4.316`) in a text.
pub fn enhanced_code_in(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for i in 0..b.len() {
        if !matches!(b[i], b'2' | b'4' | b'5')
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
            || b.get(i + 1) != Some(&b'.')
        {
            continue;
        }
        let rest = &text[i + 2..];
        let n1 = rest.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=3).contains(&n1) || rest.as_bytes().get(n1) != Some(&b'.') {
            continue;
        }
        let rest2 = &rest[n1 + 1..];
        let n2 = rest2.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=3).contains(&n2) {
            continue;
        }
        let next = rest2.as_bytes().get(n2);
        if next.is_some_and(|c| {
            c.is_ascii_alphanumeric()
                || *c == b'.' && { rest2.as_bytes().get(n2 + 1).is_some_and(u8::is_ascii_digit) }
        }) {
            continue;
        }
        return Some(format!("{}.{}.{}", b[i] as char, &rest[..n1], &rest2[..n2]));
    }
    None
}

/// The first SMTP reply code (`550`) in a text, or 0.
fn basic_code_in(text: &str) -> u16 {
    let b = text.as_bytes();
    for i in 0..b.len().saturating_sub(2) {
        if matches!(b[i], b'4' | b'5')
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'.')
            && b.get(i + 3).is_none_or(|c| matches!(c, b' ' | b'-' | b':'))
        {
            return text[i..i + 3].parse().unwrap_or(0);
        }
    }
    0
}

/// The line of a bounce text that carries the reason: the one with a reply code, else the
/// first non-empty line after the first address.
fn diagnostic_line(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    if let Some(l) = lines
        .iter()
        .find(|l| basic_code_in(l) != 0 || enhanced_code_in(l).is_some())
    {
        return l.to_string();
    }
    let after_address = lines
        .iter()
        .position(|l| l.contains('@'))
        .map(|p| p + 1)
        .unwrap_or(0);
    lines[after_address.min(lines.len())..]
        .iter()
        .find(|l| !l.is_empty())
        .map(|l| l.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found() {
        assert_eq!(
            enhanced_code_in("550 5.1.1 <a@b.c>: no").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(enhanced_code_in("(#5.1.1)").as_deref(), Some("5.1.1"));
        assert_eq!(
            enhanced_code_in("from 192.0.2.10 said 4.4.316 x").as_deref(),
            Some("4.4.316")
        );
        assert_eq!(enhanced_code_in("version 1.2.3"), None);
        assert_eq!(basic_code_in("said: 554 delivery error"), 554);
        assert_eq!(basic_code_in("554: delivery error"), 554);
        assert_eq!(basic_code_in("port 5500"), 0);
    }

    #[test]
    fn addresses_are_found() {
        assert_eq!(
            addresses_in("<Jo.Doe@Example.org>: Sorry, to bob+x@ex.net."),
            vec!["jo.doe@example.org", "bob+x@ex.net"]
        );
    }
}
