//! Messages Facteur writes itself (the Send API, test sends, template error reports), built
//! with mail-builder: multipart/alternative for a text and an HTML part, multipart/related
//! around the HTML and its inline images, multipart/mixed for attachments, encoded words for
//! non-ASCII headers.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::mime::MimePart;

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
    /// Parses `Name <a@b.c>`, `"Name" <a@b.c>` or `a@b.c`.
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
            || email.contains(char::is_whitespace)
            || email.contains(['<', '>'])
        {
            return None;
        }
        Some(Mailbox {
            name: name.to_string(),
            email: email.to_string(),
        })
    }

    fn address(&self) -> Address<'static> {
        if self.name.is_empty() {
            Address::new_address(None::<String>, self.email.clone())
        } else {
            Address::new_address(Some(self.name.clone()), self.email.clone())
        }
    }
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
pub fn mime_body(
    text: &str,
    html: &str,
    attachments: &[Attachment],
    inline: &[Attachment],
) -> MimePart<'static> {
    let text_part = (!text.is_empty() || html.is_empty())
        .then(|| MimePart::new("text/plain", text.to_string()));
    let html_part = (!html.is_empty()).then(|| {
        let html = MimePart::new("text/html", html.to_string());
        if inline.is_empty() {
            return html;
        }
        let mut parts = vec![html];
        parts.extend(inline.iter().map(|a| {
            MimePart::new(a.content_type.clone(), a.content.clone())
                .inline()
                .cid(a.content_id.clone().unwrap_or_else(|| a.filename.clone()))
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
        MimePart::new(a.content_type.clone(), a.content.clone()).attachment(a.filename.clone())
    }));
    MimePart::new("multipart/mixed", parts)
}

/// The message, CRLF line ends, ready to spool.
pub fn compose(m: &Composed<'_>) -> Vec<u8> {
    let mut b = MessageBuilder::new()
        .subject(m.subject.to_string())
        .message_id(m.message_id.to_string())
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
        b = b.header(
            name.clone(),
            mail_builder::headers::raw::Raw::new(value.clone()),
        );
    }
    let body = mime_body(m.text, m.html, m.attachments, m.inline);
    b.body(body).write_to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
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
}
