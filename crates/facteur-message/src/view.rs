//! A message read for display (capture mode): its header fields as written, its subject
//! decoded, its HTML and text bodies decoded (mail-parser). Reading never fails: what is not
//! there, or cannot be read, is absent.

use mail_parser::{MessageParser, PartType};

use crate::headers::{field_name, field_value, fields, header_section};

/// What a person reading the message sees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// Every header field in order: the name as written, the value unfolded and trimmed (encoded
    /// words left as they are).
    pub headers: Vec<(String, String)>,
    /// The first `text/html` body part, decoded.
    pub html: Option<String>,
    /// The first `text/plain` body part, decoded.
    pub text: Option<String>,
}

/// The decoded `Subject` (encoded words read), or "" when there is none.
pub fn subject(message: &[u8]) -> String {
    MessageParser::new()
        .parse_headers(message)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

/// Reads a whole message.
pub fn read(message: &[u8]) -> View {
    let headers = fields(header_section(message))
        .filter_map(|f| {
            Some((
                String::from_utf8_lossy(field_name(f)?).into_owned(),
                field_value(f)?,
            ))
        })
        .collect();
    let Some(parsed) = MessageParser::new().parse(message) else {
        return View {
            headers,
            ..View::default()
        };
    };
    // mail-parser lists a text part among the HTML bodies too (and the other way round) to
    // convert it on demand: only a part of the asked type counts.
    let first = |ids: &[u32], html: bool| {
        ids.iter()
            .filter_map(|id| parsed.part(*id))
            .find_map(|p| match &p.body {
                PartType::Html(s) if html => Some(s.to_string()),
                PartType::Text(s) if !html => Some(s.to_string()),
                _ => None,
            })
    };
    View {
        html: first(&parsed.html_body, true),
        text: first(&parsed.text_body, false),
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternative_parts_headers_and_subject() {
        let raw = b"Subject: =?utf-8?q?Caf=C3=A9?= and\r\n more\r\nFrom: a@x.test\r\n\
            Message-ID: <1@x.test>\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 text\r\n\
            --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html</p>\r\n--b--\r\n";
        let v = read(raw);
        assert_eq!(v.text.as_deref(), Some("Café text"));
        assert_eq!(v.html.as_deref().map(str::trim), Some("<p>html</p>"));
        assert_eq!(
            v.headers[0],
            ("Subject".into(), "=?utf-8?q?Caf=C3=A9?= and more".into())
        );
        assert_eq!(v.headers[2], ("Message-ID".into(), "<1@x.test>".into()));
        assert_eq!(v.headers.len(), 5);
        assert_eq!(subject(raw), "Café and more");
    }

    #[test]
    fn text_only_has_no_html() {
        let v = read(b"Subject: hi\r\n\r\nplain\r\n");
        assert_eq!(v.text.as_deref().map(str::trim), Some("plain"));
        assert_eq!(v.html, None);
        assert_eq!(subject(b"From: a@x.test\r\n\r\nx"), "");
        assert_eq!(read(b""), View::default());
    }
}
