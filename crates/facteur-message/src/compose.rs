//! Messages Facteur writes itself (test sends today; the Send API later), built with
//! mail-builder: multipart/alternative when there is both a text and an HTML part, encoded
//! words for non-ASCII headers.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;

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

pub struct Composed<'a> {
    pub from: &'a Mailbox,
    pub to: &'a [Mailbox],
    pub reply_to: Option<&'a Mailbox>,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub message_id: &'a str,
    /// Unix seconds.
    pub date: i64,
    /// Extra headers, already valid (name, value).
    pub headers: &'a [(String, String)],
}

/// The message, CRLF line ends, ready to spool.
pub fn compose(m: &Composed<'_>) -> Vec<u8> {
    let mut b = MessageBuilder::new()
        .from(m.from.address())
        .to(Address::new_list(
            m.to.iter().map(Mailbox::address).collect(),
        ))
        .subject(m.subject.to_string())
        .message_id(m.message_id.to_string())
        .date(m.date);
    if let Some(r) = m.reply_to {
        b = b.reply_to(r.address());
    }
    for (name, value) in m.headers {
        b = b.header(
            name.clone(),
            mail_builder::headers::raw::Raw::new(value.clone()),
        );
    }
    if !m.text.is_empty() || m.html.is_empty() {
        b = b.text_body(m.text.to_string());
    }
    if !m.html.is_empty() {
        b = b.html_body(m.html.to_string());
    }
    b.write_to_vec().unwrap_or_default()
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
            from: &from,
            to: &to,
            reply_to: None,
            subject: "Votre commande été",
            text: "Bonjour",
            html: "<p>Bonjour</p>",
            message_id: "m1@facteur.test",
            date: 1_795_000_000,
            headers: &[("X-Facteur-Test".into(), "1".into())],
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
}
