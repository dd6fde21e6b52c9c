//! Messages Facteur writes itself (the Send API, test sends, template error reports), built
//! with mail-builder: multipart/alternative for a text and an HTML part, multipart/related
//! around the HTML and its inline images, multipart/mixed for attachments, encoded words for
//! non-ASCII headers.
//!
//! What is composed always passes the SMTP intake's own DATA checks, whatever the caller gives
//! (issue "Faults and hostile input"): lines end with CRLF, there is no NUL and no line longer
//! than 998 octets, so nothing can be smuggled to the next hop (`\r.\r`, `\n.\n`…).
//! - Text and HTML parts are normalised ([`normalize_text`]): bare CR and bare LF become CRLF,
//!   NUL is removed. mail-builder then writes them 7bit only when every line has at most 77
//!   octets and no byte is above 0x7E; otherwise quoted-printable or base64 (lines of 76).
//! - Attachments and inline parts are always base64 (their bytes are kept exactly; mail-builder
//!   would write a `text/*` attachment 7bit with its bare CRs and NULs).
//! - Every header value a caller gives is one line: control characters (CR, LF, NUL, tab…)
//!   become spaces; a value with a word (or a run of spaces) too long to fold is written as
//!   encoded words.
//!   Custom header names that are not 1 to [`limits::MAX_HEADER_NAME`] printable ASCII
//!   characters without a colon, and custom `MIME-Version` / `Content-*` headers (the MIME
//!   structure is Facteur's), are left out: a backstop, the Send API refuses them
//!   ([`limits::valid_header_name`], [`limits::mime_header`]).

use std::borrow::Cow;

use base64::Engine;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::MimePart;

use crate::limits;

/// Longest address (RFC 5321 4.5.3.1.3: a path is at most 256 octets with its brackets).
pub const MAX_EMAIL: usize = 254;
/// Longest Message-ID or Content-ID written (longer ones are cut): the header line must stay
/// under 998 octets, and an id cannot be folded.
const MAX_ID: usize = 900;
/// A word (a run without spaces), or a run of spaces, longer than this cannot be folded under
/// 998 octets with the header name before it: such a value is written as encoded words.
const MAX_HEADER_WORD: usize = 850;

/// A file carried by a message: an attachment, or an inline part referenced from the HTML as
/// `cid:<content_id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub content_type: String,
    pub filename: String,
    pub content: Vec<u8>,
    /// Set for inline parts.
    pub content_id: Option<String>,
}

/// A mailbox: display name (may be empty) and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: String,
    pub email: String,
}

impl Mailbox {
    /// Parses `Name <a@b.c>`, `"Name" <a@b.c>` or `a@b.c`. The address has no space or control
    /// character and at most [`MAX_EMAIL`] octets; control characters in the name become spaces.
    pub fn parse(s: &str) -> Option<Mailbox> {
        let s = s.trim();
        let (name, email) = match (s.rfind('<'), s.ends_with('>')) {
            (Some(lt), true) => (
                s[..lt].trim().trim_matches('"').trim(),
                &s[lt + 1..s.len() - 1],
            ),
            _ => ("", s),
        };
        let email = email.trim();
        let (local, domain) = email.rsplit_once('@')?;
        if local.is_empty()
            || domain.is_empty()
            || email.len() > MAX_EMAIL
            || email.contains(|c: char| c.is_whitespace() || c.is_control())
            || email.contains(['<', '>'])
        {
            return None;
        }
        Some(Mailbox {
            name: one_line(name).into_owned(),
            email: email.to_string(),
        })
    }

    fn address(&self) -> Address<'static> {
        let email: String = self
            .email
            .chars()
            .filter(|c| !c.is_control() && !c.is_whitespace())
            .collect();
        let name = one_line(&self.name);
        if name.trim().is_empty() {
            Address::new_address(None::<String>, email)
        } else {
            Address::new_address(Some(name.into_owned()), email)
        }
    }
}

/// A text or HTML part as it is sent: every bare CR and bare LF made CRLF, NUL removed
/// (RFC 5322 2.3: CR and LF only together; RFC 5321 2.3.8).
pub fn normalize_text(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let clean = b.iter().enumerate().all(|(i, &c)| match c {
        0 => false,
        b'\r' => b.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && b[i - 1] == b'\r',
        _ => true,
    });
    if clean {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\0' => {}
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A header value on one line: every control character (CR, LF, NUL, tab…) becomes a space.
fn one_line(s: &str) -> Cow<'_, str> {
    if s.contains(char::is_control) {
        Cow::Owned(
            s.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// An id for Message-ID or Content-ID (written between `<>`): no control character, space or
/// angle bracket, at most [`MAX_ID`] octets.
fn id(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_ID));
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() || c == '<' || c == '>' {
            continue;
        }
        if out.len() + c.len_utf8() > MAX_ID {
            break;
        }
        out.push(c);
    }
    out
}

/// A content type as given when it is one (`type/subtype`, parameters allowed: printable
/// ASCII, at most 200 octets), else `application/octet-stream`.
fn content_type(s: &str) -> String {
    let s = s.trim();
    let ok = s.len() <= 200
        && s.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && s.split_once('/')
            .is_some_and(|(t, sub)| !t.is_empty() && !sub.trim().is_empty());
    if ok {
        s.to_string()
    } else {
        "application/octet-stream".to_string()
    }
}

/// `content` in base64, lines of 76 characters ending with CRLF (RFC 2045 6.8).
pub(crate) fn base64_lines(content: &[u8]) -> Vec<u8> {
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut encoded = vec![0; content.len().div_ceil(57) * 78];
    let mut at = 0;
    for chunk in content.chunks(57) {
        at += engine
            .encode_slice(chunk, &mut encoded[at..])
            .expect("76 characters fit in a line of 78");
        encoded[at..at + 2].copy_from_slice(b"\r\n");
        at += 2;
    }
    encoded.truncate(at);
    encoded
}

/// The longest run of blanks or of non-blanks: neither can be folded.
fn longest_run(value: &str) -> usize {
    let (mut longest, mut run, mut blank) = (0, 0, false);
    for b in value.bytes() {
        if (b == b' ') == blank {
            run += 1;
        } else {
            (run, blank) = (1, b == b' ');
        }
        longest = longest.max(run);
    }
    longest
}

/// An attachment or inline part: always base64, its bytes exactly as given.
fn file_part(a: &Attachment) -> MimePart<'static> {
    MimePart::new(content_type(&a.content_type), base64_lines(&a.content))
}

#[derive(Default)]
pub struct Composed<'a> {
    pub from: Option<&'a Mailbox>,
    /// The Sender header, when it differs from From.
    pub sender: Option<&'a Mailbox>,
    pub to: &'a [Mailbox],
    pub cc: &'a [Mailbox],
    pub reply_to: Option<&'a Mailbox>,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub message_id: &'a str,
    /// Unix seconds.
    pub date: i64,
    /// Extra headers, already valid (name, value).
    pub headers: &'a [(String, String)],
    pub attachments: &'a [Attachment],
    /// Inline parts (with a content id), placed beside the HTML in multipart/related.
    pub inline: &'a [Attachment],
}

/// The MIME body of a message with these parts: multipart/alternative for text and HTML,
/// multipart/related around the HTML and its inline parts, multipart/mixed for attachments.
/// Text and HTML are normalised ([`normalize_text`]); files are base64.
pub fn mime_body(
    text: &str,
    html: &str,
    attachments: &[Attachment],
    inline: &[Attachment],
) -> MimePart<'static> {
    let text_part = (!text.is_empty() || html.is_empty())
        .then(|| MimePart::new("text/plain", normalize_text(text).into_owned()));
    let html_part = (!html.is_empty()).then(|| {
        let html = MimePart::new("text/html", normalize_text(html).into_owned());
        if inline.is_empty() {
            return html;
        }
        let mut parts = vec![html];
        parts.extend(inline.iter().map(|a| {
            file_part(a)
                .inline()
                .cid(id(a.content_id.as_deref().unwrap_or(&a.filename)))
                .transfer_encoding("base64")
        }));
        MimePart::new("multipart/related", parts)
    });
    let body = match (text_part, html_part) {
        (Some(t), Some(h)) => MimePart::new("multipart/alternative", vec![t, h]),
        (Some(t), None) => t,
        (None, Some(h)) => h,
        (None, None) => MimePart::new("text/plain", String::new()),
    };
    if attachments.is_empty() {
        return body;
    }
    let mut parts = vec![body];
    parts.extend(attachments.iter().map(|a| {
        file_part(a)
            .attachment(one_line(&a.filename).into_owned())
            .transfer_encoding("base64")
    }));
    MimePart::new("multipart/mixed", parts)
}

/// An unstructured header value a caller gave (a subject): on one line; mail-builder writes it
/// as it is or as encoded words, folded.
pub fn header_text(value: &str) -> Text<'static> {
    Text::new(one_line(value).into_owned())
}

/// The message, CRLF line ends, ready to spool.
pub fn compose(m: &Composed<'_>) -> Vec<u8> {
    let mut b = MessageBuilder::new()
        .subject(header_text(m.subject))
        .message_id(id(m.message_id))
        .date(m.date);
    if let Some(from) = m.from {
        b = b.from(from.address());
    }
    if let Some(sender) = m.sender {
        b = b.sender(sender.address());
    }
    if !m.to.is_empty() {
        b = b.to(Address::new_list(
            m.to.iter().map(Mailbox::address).collect(),
        ));
    }
    if !m.cc.is_empty() {
        b = b.cc(Address::new_list(
            m.cc.iter().map(Mailbox::address).collect(),
        ));
    }
    if let Some(r) = m.reply_to {
        b = b.reply_to(r.address());
    }
    for (name, value) in m.headers {
        // A backstop: the Send API refuses these names (mj-0005, send-0011).
        if !limits::valid_header_name(name) || limits::mime_header(name) {
            continue;
        }
        let value = one_line(value).into_owned();
        b = if longest_run(&value) > MAX_HEADER_WORD {
            b.header(name.clone(), Text::new(value))
        } else {
            b.header(name.clone(), Raw::new(value))
        };
    }
    let body = mime_body(m.text, m.html, m.attachments, m.inline);
    let mut raw = b.body(body).write_to_vec().unwrap_or_default();
    // A single part ends where its text ends: the message ends with a line end all the same.
    if !raw.ends_with(b"\r\n") {
        raw.extend_from_slice(b"\r\n");
    }
    raw
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mail_parser::MimeHeaders;

    #[test]
    fn mailboxes() {
        assert_eq!(
            Mailbox::parse("Shop <shop@example.com>"),
            Some(Mailbox {
                name: "Shop".into(),
                email: "shop@example.com".into()
            })
        );
        assert_eq!(
            Mailbox::parse("\"Ada L.\" <ada@x.test>").unwrap().name,
            "Ada L."
        );
        assert_eq!(Mailbox::parse("bare@x.test").unwrap().name, "");
        for bad in ["", "nobody", "a b@c.d", "<>", "x@"] {
            assert_eq!(Mailbox::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn alternative_with_encoded_subject() {
        let from = Mailbox::parse("Boutique Été <shop@example.com>").unwrap();
        let to = [Mailbox::parse("ada@x.test").unwrap()];
        let raw = compose(&Composed {
            from: Some(&from),
            to: &to,
            subject: "Votre commande été",
            text: "Bonjour",
            html: "<p>Bonjour</p>",
            message_id: "m1@facteur.test",
            date: 1_795_000_000,
            headers: &[("X-Facteur-Test".into(), "1".into())],
            ..Composed::default()
        });
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.subject(), Some("Votre commande été"));
        assert_eq!(
            parsed.content_type().unwrap().subtype(),
            Some("alternative")
        );
        assert_eq!(parsed.body_text(0).as_deref(), Some("Bonjour"));
        assert_eq!(parsed.body_html(0).as_deref(), Some("<p>Bonjour</p>"));
        let text = String::from_utf8(raw).unwrap();
        assert!(text.contains("Subject: =?utf-8?"), "encoded word");
        assert!(text.contains("X-Facteur-Test: 1"));
        assert!(text.lines().all(|l| l.len() <= 998));
    }

    #[test]
    fn mixed_related_alternative() {
        let from = Mailbox::parse("shop@example.com").unwrap();
        let to = [Mailbox::parse("ada@x.test").unwrap()];
        let cc = [Mailbox::parse("Bob <bob@x.test>").unwrap()];
        let logo = Attachment {
            content_type: "image/png".into(),
            filename: "logo.png".into(),
            content: vec![0x89, b'P', b'N', b'G', 0, 1, 2],
            content_id: Some("logo1".into()),
        };
        let pdf = Attachment {
            content_type: "application/pdf".into(),
            filename: "facture.pdf".into(),
            content: b"%PDF-1.4 test".to_vec(),
            content_id: None,
        };
        let raw = compose(&Composed {
            from: Some(&from),
            to: &to,
            cc: &cc,
            subject: "Invoice",
            text: "See the invoice",
            html: "<img src=\"cid:logo1\"><p>See the invoice</p>",
            message_id: "m2@facteur.test",
            date: 1_795_000_000,
            attachments: std::slice::from_ref(&pdf),
            inline: std::slice::from_ref(&logo),
            ..Composed::default()
        });
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.content_type().unwrap().subtype(), Some("mixed"));
        let text = String::from_utf8_lossy(&raw);
        for needle in [
            "multipart/alternative",
            "multipart/related",
            "Content-ID: <logo1>",
            "filename=\"facture.pdf\"",
            "Cc: \"Bob\" <bob@x.test>",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
        assert_eq!(parsed.attachment_count(), 2);
        let pdf_part = parsed
            .attachments()
            .find(|a| a.attachment_name() == Some("facture.pdf"))
            .unwrap();
        assert_eq!(pdf_part.contents(), b"%PDF-1.4 test");
        assert_eq!(parsed.body_text(0).as_deref(), Some("See the invoice"));
    }

    /// The composed bytes pass facteur-smtp's own DATA checks (no bare CR or LF, no NUL, no
    /// line over 998 octets, CRLF at the end) and survive a hop unchanged: dot-stuffed for DATA
    /// and read back by the SMTP intake, they end exactly at the end-of-data line.
    fn field_names(raw: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        let mut section = crate::headers::header_section(raw);
        // Every header section: the message's and each MIME part's.
        let mut rest = raw;
        loop {
            for f in crate::headers::fields(section) {
                if let Some(n) = crate::headers::field_name(f) {
                    names.push(String::from_utf8_lossy(n).to_ascii_lowercase());
                }
            }
            let Some(next) = rest.windows(4).position(|w| w == b"\r\n--") else {
                return names;
            };
            rest = &rest[next + 4..];
            let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                return names;
            };
            rest = &rest[eol + 2..];
            section = crate::headers::header_section(rest);
        }
    }

    /// Issue "Faults and hostile input", A: a Send API TextPart with `\r.\r` was composed 7bit
    /// with its bare CRs (SMTP smuggling at the next hop); NUL went through too.
    #[test]
    fn hostile_parts_are_normalised() {
        let from = Mailbox::parse("shop@example.com").unwrap();
        let to = [Mailbox::parse("ada@x.test").unwrap()];
        let smuggle = "end\r.\rMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<x@y.test>\r\nDATA\r\n\0nul\n.\nbye\r\n.\r\n";
        let long = format!("{}\r\nshort\r\n", "x".repeat(2000));
        let cases: Vec<(String, String)> = vec![
            (smuggle.into(), "<p>a\r.\r</p>\n.\n<p>b</p>\r".into()),
            (
                format!("Été {smuggle}"),
                format!("<p>été</p>\r.\r{smuggle}"),
            ),
            (long.clone(), long.clone()),
            (format!("{long}\r\0été"), String::new()),
            (String::new(), format!("{smuggle}{}", "é".repeat(3000))),
            ("\r".into(), "\n".into()),
            ("\0".into(), "\r\n.\r\n".into()),
        ];
        for (text, html) in &cases {
            let raw = compose(&Composed {
                from: Some(&from),
                to: &to,
                subject: "s",
                text,
                html,
                message_id: "m@facteur.test",
                date: 1_795_000_000,
                ..Composed::default()
            });
            crate::testing::assert_smtp_safe(&raw);
            // The parts are the text given, with CRLF line ends and without NUL.
            // (A message of one part ends with a CRLF of its own, as it does once sent.)
            let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let same = |got: Option<Cow<'_, str>>, given: &str| {
                let got = got.unwrap();
                let want = normalize_text(given);
                let one_part = text.is_empty() || html.is_empty();
                assert!(
                    got == want || (one_part && got.strip_suffix("\r\n") == Some(&*want)),
                    "{got:?} for {given:?}"
                );
            };
            if !text.is_empty() {
                same(parsed.body_text(0), text);
            }
            if !html.is_empty() {
                same(parsed.body_html(0), html);
            }
        }
        assert_eq!(
            normalize_text("a\rb\nc\r\nd\r\r\n\0e\n\r"),
            "a\r\nb\r\nc\r\nd\r\n\r\ne\r\n\r\n"
        );
    }

    /// No header a caller provides can carry CR, LF or NUL into the message, nor make a line
    /// longer than 998 octets; attachments keep their exact bytes.
    #[test]
    fn hostile_headers_and_attachments() {
        let from = Mailbox {
            name: "Evil\r\nBcc: victim@x.test\0".into(),
            email: "shop@example.com".into(),
        };
        let to = [Mailbox {
            name: "T\0o\r".into(),
            email: "ada@x.test".into(),
        }];
        let payload = b"a\r.\rMAIL FROM:<ceo@bank.example>\r\n\0\n.\n\xff".to_vec();
        let attachment = Attachment {
            content_type: "text/plain\r\nX-A: b".into(),
            filename: "f\r\nX-F: 1\".txt".into(),
            content: payload.clone(),
            content_id: None,
        };
        let plain = Attachment {
            content_type: "text/plain".into(),
            filename: "notes.txt".into(),
            content: b"x\r.\rQUIT\r\n".to_vec(),
            content_id: None,
        };
        let inline = Attachment {
            content_type: "text/plain".into(),
            filename: "i.txt".into(),
            content: payload.clone(),
            content_id: Some("c\r\nX-C: 1".into()),
        };
        let headers = [
            ("X-H".to_string(), "v\r\nX-Inj: 1\0".to_string()),
            ("X-N\r\nX-Q".to_string(), "1".to_string()),
            ("".to_string(), "empty name".to_string()),
            ("X-Long".to_string(), "y".repeat(3000)),
            ("X-Spaced".to_string(), "word ".repeat(1000)),
            // Found by the mime-compose fuzz target: a run of blanks cannot be folded either.
            ("X-Gap".to_string(), format!("42{}x", " ".repeat(3000))),
            ("X-Blank".to_string(), "\t".repeat(3000)),
        ];
        let cc = [
            Mailbox {
                name: " ".repeat(3000),
                email: "a@x.test".into(),
            },
            Mailbox {
                name: format!("{}\"\\", "n".repeat(3000)),
                email: "b@x.test".into(),
            },
        ];
        let subject = format!("Hi\r\nBcc: victim@x.test\r\n\r\nbody\0{}", "z".repeat(3000));
        let raw = compose(&Composed {
            from: Some(&from),
            to: &to,
            cc: &cc,
            subject: &subject,
            text: "t",
            html: "<p>h</p>",
            message_id: "m\r\nX-M: 1@x",
            date: 0,
            headers: &headers,
            attachments: &[attachment, plain.clone()],
            inline: std::slice::from_ref(&inline),
            ..Composed::default()
        });
        crate::testing::assert_smtp_safe(&raw);
        let names = field_names(&raw);
        for injected in ["bcc", "x-inj", "x-q", "x-m", "x-a", "x-f", "x-c"] {
            assert!(
                !names.iter().any(|n| n == injected),
                "{injected} in {names:?}"
            );
        }
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let subject = parsed.subject().unwrap();
        assert!(
            subject.starts_with("Hi  Bcc: victim@x.test    body "),
            "{subject:?}"
        );
        assert_eq!(
            parsed
                .header_raw("X-Long")
                .map(str::trim)
                .map(str::len)
                .map(|l| l > 0),
            Some(true)
        );
        let contents: Vec<&[u8]> = parsed.attachments().map(|a| a.contents()).collect();
        assert!(
            contents.contains(&payload.as_slice()),
            "attachment bytes kept"
        );
        assert!(
            contents.contains(&plain.content.as_slice()),
            "text attachment bytes kept"
        );
    }

    /// A mailbox is one address: no control character, at most 254 octets (RFC 5321 4.5.3.1.3).
    #[test]
    fn mailboxes_refuse_control_characters() {
        for bad in ["a\0@b.c", "Name <a\u{1}b@c.d>", "x@y.z\u{7f}"] {
            assert_eq!(Mailbox::parse(bad), None, "{bad:?}");
        }
        let long = format!("{}@{}.test", "a".repeat(64), "b".repeat(200));
        assert_eq!(Mailbox::parse(&long), None);
        let name = Mailbox::parse("A\u{0}B <a@b.c>").unwrap().name;
        assert_eq!(name, "A B");
    }
}
